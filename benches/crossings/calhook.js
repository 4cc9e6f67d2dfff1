// calhook's receiver with its wasm↔JS crossings counted (`count.js` first).
import { withCrossings } from "./count.js";
import inner from "../../build/index.js";

export default withCrossings(inner);
