// The room page's feature modules, each registering itself with registerFeature()
// (room-context.js). Add a feature by adding its import here; nothing else needs to change.

import "./room-lobby.js";
