// The waiting room (lobby): placeholder until the lobby lands (issue 10, item 3).

import { registerFeature } from "./room-context.js";

registerFeature({
  name: "lobby",
  mount() {},
});
