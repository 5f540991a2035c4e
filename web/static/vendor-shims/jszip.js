// The UMD build of jszip (from npm, served by web/vendor.py) sets globalThis.JSZip; dwv
// imports it as an ES module's default export (web/vendor.py points dwv's import here).
import "/static/vendor/jszip/jszip.min.js";

export default globalThis.JSZip;
