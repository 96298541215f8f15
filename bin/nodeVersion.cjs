// Whether this Node.js can run keyslot, judged before any TypeScript loads: an older Node fails
// later with an error about something else (`Cannot read properties of undefined (reading
// 'bind')` inside a dependency). The range is package.json's `engines.node`, `>=MAJOR[.MINOR]`.
'use strict';

/** The line to print when `version` (e.g. `v20.20.2`) is older than `engines` (e.g. `>=22`); else undefined. */
function nodeTooOld(version, engines) {
  const want = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(String(engines).trim());
  if (!want) return undefined;
  const have = String(version).replace(/^v/, '').split('.').map(Number);
  const need = [Number(want[1]), Number(want[2] ?? 0), Number(want[3] ?? 0)];
  for (let i = 0; i < 3; i++) {
    if ((have[i] ?? 0) > need[i]) return undefined;
    if ((have[i] ?? 0) < need[i])
      return `keyslot: Node.js ${version} is too old; keyslot needs Node.js ${String(engines).trim()} (package.json engines); install a newer Node.js (https://nodejs.org/en/download)`;
  }
  return undefined;
}

module.exports = { nodeTooOld };
