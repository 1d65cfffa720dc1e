// The contract guard: compares two versions of schema.graphql with graphql-js's own
// findBreakingChanges and fails on a change that breaks a client (a field or argument
// removed or retyped, a required argument added, an enum value removed, …), unless the
// field removed had been deprecated in the earlier version.
//
// Usage: node contract.mjs OLD.graphql NEW.graphql

import { readFileSync } from "node:fs";
import { BreakingChangeType, buildSchema, findBreakingChanges, isObjectType, isInterfaceType, isInputObjectType } from "graphql";

const [oldPath, newPath] = process.argv.slice(2);
if (!oldPath || !newPath) {
  console.error("usage: node contract.mjs OLD.graphql NEW.graphql");
  process.exit(2);
}
const before = buildSchema(readFileSync(oldPath, "utf8"));
const after = buildSchema(readFileSync(newPath, "utf8"));

// "Type.field was removed." names the field; it may go if it was deprecated first.
const deprecatedBefore = (description) => {
  const m = /^(\w+)\.(\w+) was removed\.$/.exec(description);
  if (!m) return false;
  const type = before.getType(m[1]);
  if (!(isObjectType(type) || isInterfaceType(type) || isInputObjectType(type))) return false;
  const field = type.getFields()[m[2]];
  return Boolean(field?.deprecationReason);
};

const breaking = findBreakingChanges(before, after).filter(
  (c) => !(c.type === BreakingChangeType.FIELD_REMOVED && deprecatedBefore(c.description)),
);
for (const change of breaking) console.log(`BREAKING ${change.type}: ${change.description}`);
if (breaking.length > 0) {
  console.log(`${breaking.length} breaking change(s): deprecate first (@deprecated(reason: "…")), remove in a later release`);
  process.exit(1);
}
console.log("the contract holds: no breaking change");
