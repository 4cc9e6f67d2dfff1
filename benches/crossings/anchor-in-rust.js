// The anchor ported to Rust, with its wasm↔JS crossings counted.
import { withCrossings } from "./count.js";
import inner from "../anchor-in-rust/build/index.js";

export default withCrossings(inner);
