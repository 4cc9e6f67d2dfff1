// calhook's receiver under the edge-latency model (`wrap.js`).
import inner from "../../build/index.js";
import { withLatencyEntry } from "./wrap.js";

export default withLatencyEntry(inner);
