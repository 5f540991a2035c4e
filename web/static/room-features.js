// The room page's feature modules, each registering itself with registerFeature()
// (room-context.js). Add a feature by adding its import here; nothing else needs to change.

import "./room-lobby.js";
import "./room-labels.js";
import "./room-notices.js";
import "./room-chat.js";
import "./room-hand.js";
import "./room-screen.js";
import "./room-network.js";
import "./room-case.js";
import "./room-speaking.js";
