// The UMD build of konva (from npm, served by web/vendor.py) sets globalThis.Konva; dwv
// imports it as an ES module's default export (web/vendor.py points dwv's import here).
import "/static/vendor/konva/konva.min.js";

export default globalThis.Konva;
