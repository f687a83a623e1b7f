// Entry point for external-scripts.json: ["hubot-opspack"].
// Note: Hubot does not await external scripts, so with `hubot -e` their listeners
// arrive too late; for one-shot runs load scripts/ with `-r node_modules/hubot-opspack/scripts`.
export { default } from './scripts/opspack.mjs'
