// The active-messages model the pages keep from the broadcasts channel,
// run as the pages run it (the same module), without a browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActiveMessages } from "../shared/campanile.js";

const message = (id, extra = {}) => ({
  id, msg_type: "Alert", severity: "Severe", expires: new Date(Date.now() + 3600e3).toISOString(), ...extra,
});

test("a reconnect resumes from the newest seq of the log the messages came from", () => {
  const m = new ActiveMessages();
  m.apply({ seq: 7, epoch: "a", broadcast: message("x") });
  m.apply({ seq: 9, epoch: "a", broadcast: message("y") });
  assert.equal(m.lastSeq, 9);
  assert.equal(m.epoch, "a");
  // The log was lost and numbers again: its seq 1 is newer than 9 was.
  m.apply({ seq: 1, epoch: "b", broadcast: message("z") });
  assert.equal(m.lastSeq, 1);
  assert.equal(m.epoch, "b");
  m.apply({ seq: 2, epoch: "b", broadcast: message("w") });
  assert.equal(m.lastSeq, 2);
  assert.deepEqual(m.list().map((b) => b.id).sort(), ["w", "x", "y", "z"]);
});

test("an Update replaces the message it references and a Cancel removes it", () => {
  const m = new ActiveMessages();
  m.apply({ seq: 1, epoch: "a", broadcast: message("x") });
  m.apply({ seq: 2, epoch: "a", broadcast: message("x2", { msg_type: "Update", references: "x" }) });
  assert.deepEqual(m.list().map((b) => b.id), ["x2"]);
  m.apply({ seq: 3, epoch: "a", broadcast: message("x3", { msg_type: "Cancel", references: "x2" }) });
  assert.deepEqual(m.list(), []);
});
