// The UMD build of magic-wand-tool (from npm, served by web/vendor.py) sets globalThis.MagicWand; dwv
// imports it as an ES module's default export (web/vendor.py points dwv's import here).
import "/static/vendor/magic-wand-tool/magic-wand.min.js";

export default globalThis.MagicWand;
