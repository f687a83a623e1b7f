// Validate Microsoft Teams Adaptive Cards with the real `adaptivecards` parser.
//
//   stdin:  a JSON array of Adaptive Card objects (the `content` of an
//           "application/vnd.microsoft.card.adaptive" attachment).
//   stdout: a JSON array with one entry per card: a list of error strings,
//           each "<JSON path>: <ValidationEvent>: <message>". An empty list
//           means nothing was found.
//   exit:   0 on success, 2 on bad input (message on stderr).
//
// Runs in plain Node, no DOM: parse() and validateProperties() never touch
// `document`/`window` (only render() would).
//
// Used by opspack_testkit/cards.py, which runs it from a cache folder where
// package.json has been `npm install`ed.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// The package's lib/ build is ESM with extension-less import specifiers that
// Node cannot resolve; the UMD bundle in dist/ is self-contained (it even
// bundles the `swiper` peer dependency, which is therefore not installed).
const AC = require("adaptivecards/dist/adaptivecards.min.js");

// Highest Adaptive Card schema version that Microsoft Teams renders.
const TEAMS_MAX_VERSION = AC.Versions.v1_5;

// The parts of Teams' host config (as in the Adaptive Cards designer's Teams
// containers) that validateProperties() consults; the rest keeps the
// library's defaults.
const TEAMS_HOST_CONFIG = new AC.HostConfig({
    supportsInteractivity: true,
    actions: { maxActions: 6 },
});

const UNKNOWN_TYPE_EVENTS = new Set([
    AC.ValidationEvent.UnknownElementType,
    AC.ValidationEvent.UnknownActionType,
]);

const VERSION_RE = /^(\d+)\.(\d+)$/;

// Keep stdout for the JSON result only: the library may console.log/warn.
console.log = console.info = console.warn = console.debug = (...args) => console.error(...args);

// Maps every object/array inside `root` to its JSON path ("$.body[0].items[2]").
function indexPaths(root) {
    const paths = new Map();
    const walk = (value, path) => {
        if (value === null || typeof value !== "object") {
            return;
        }
        paths.set(value, path);
        if (Array.isArray(value)) {
            value.forEach((item, i) => walk(item, `${path}[${i}]`));
        } else {
            for (const [key, item] of Object.entries(value)) {
                const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
                walk(item, path + segment);
            }
        }
    };
    walk(root, "$");
    return paths;
}

// The version to validate against: the one the card declares, capped at what
// Teams supports. Elements, actions, properties and enum values newer than
// this are reported.
function targetVersionFor(json) {
    const match = typeof json.version === "string" ? VERSION_RE.exec(json.version.trim()) : null;
    if (!match) {
        return TEAMS_MAX_VERSION;
    }
    const declared = new AC.Version(Number(match[1]), Number(match[2]));
    return declared.compareTo(TEAMS_MAX_VERSION) > 0 ? TEAMS_MAX_VERSION : declared;
}

function hasFallback(source) {
    const fallback = source !== null && typeof source === "object" ? source.fallback : undefined;
    return fallback === "drop" || (fallback !== null && typeof fallback === "object");
}

function describe(value) {
    return Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
}

function validateCard(json) {
    if (json === null || typeof json !== "object" || Array.isArray(json)) {
        return [`$: MissingCardType: A card must be a JSON object, got ${describe(json)}.`];
    }

    const errors = [];
    const seen = new Set();
    const report = (path, event, message) => {
        const name = typeof event === "number" ? AC.ValidationEvent[event] ?? String(event) : event;
        const line = `${path}: ${name}: ${message}`;
        if (!seen.has(line)) {
            seen.add(line);
            errors.push(line);
        }
    };

    // Root checks the library means to make but cannot: when "type" or
    // "version" is absent it silently substitutes "AdaptiveCard" / 1.0.
    if (!Object.prototype.hasOwnProperty.call(json, "type")) {
        report("$", AC.ValidationEvent.MissingCardType,
            'Invalid or missing card type. Make sure the card\'s type property is set to "AdaptiveCard".');
    }
    if (!Object.prototype.hasOwnProperty.call(json, "version")) {
        report("$", AC.ValidationEvent.PropertyCantBeNull, 'Property "version" must be set.');
    } else if (typeof json.version !== "string") {
        report("$", AC.ValidationEvent.InvalidPropertyValue,
            `Invalid value ${JSON.stringify(json.version)} for property "version" (must be a string such as "1.5").`);
    }

    const paths = indexPaths(json);
    const pathOf = (source) => paths.get(source) ?? "$";
    const objectSources = new Map(); // parsed CardObject -> the JSON it came from
    const parsing = []; // JSON objects being parsed, innermost last
    let failedSource;

    const context = new AC.SerializationContext(targetVersionFor(json));

    // Every element and action goes through internalParseCardObject: track
    // which JSON object is being parsed so events can be located.
    const parseCardObject = context.internalParseCardObject;
    context.internalParseCardObject = function (parent, source, ...rest) {
        parsing.push(source);
        try {
            const result = parseCardObject.call(this, parent, source, ...rest);
            if (result !== undefined && !objectSources.has(result)) {
                objectSources.set(result, source);
            }
            return result;
        } catch (err) {
            failedSource ??= source;
            throw err;
        } finally {
            parsing.pop();
        }
    };

    const logEvent = context.logEvent;
    context.logEvent = function (source, phase, event, message) {
        const current = parsing.length > 0 ? parsing[parsing.length - 1] : json;
        // An unknown type with a fallback is valid: the fallback is used
        // (and is parsed, and validated, in its own right).
        if (!(UNKNOWN_TYPE_EVENTS.has(event) && hasFallback(current))) {
            report(pathOf(current), event, message);
        }
        return logEvent.call(this, source, phase, event, message);
    };

    const card = new AC.AdaptiveCard();
    card.hostConfig = TEAMS_HOST_CONFIG;
    card.maxVersion = TEAMS_MAX_VERSION;
    objectSources.set(card, json);

    try {
        card.parse(json, context);
    } catch (err) {
        report(pathOf(failedSource ?? json), "ParseError", err instanceof Error ? err.message : String(err));
        return errors;
    }

    let results;
    try {
        results = card.validateProperties();
    } catch (err) {
        report("$", "ValidationError", err instanceof Error ? err.message : String(err));
        return errors;
    }
    for (const event of results.validationEvents) {
        let owner = event.source;
        while (owner !== undefined && owner !== null && !objectSources.has(owner)) {
            owner = owner.parent;
        }
        report(pathOf(owner === undefined || owner === null ? json : objectSources.get(owner)),
            event.event, event.message);
    }
    return errors;
}

async function readStdin() {
    const chunks = [];
    for await (const chunk of process.stdin) {
        chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
}

let cards;
try {
    cards = JSON.parse(await readStdin());
} catch (err) {
    process.stderr.write(`validate.mjs: stdin is not valid JSON: ${err.message}\n`);
    process.exit(2);
}
if (!Array.isArray(cards)) {
    process.stderr.write(`validate.mjs: stdin must be a JSON array of cards, got ${describe(cards)}\n`);
    process.exit(2);
}
process.stdout.write(`${JSON.stringify(cards.map(validateCard))}\n`);
