// Description:
//   Run opspack chat-ops commands (vm list, server test, jenkins build ...) through an
//   opspack runner (`opspack serve`). Every command of the runner's registry is also
//   registered on Hubot's command bus under its id (`server.host.test --host web01`).
//
// Configuration:
//   OPSPACK_URL - the runner's address (default http://127.0.0.1:8080)
//   OPSPACK_REFRESH_S - seconds between readings of the runner's registry (default 300; 0: never)
//   OPSPACK_RETRY_S - seconds between attempts while the runner is not up yet (default 5)
//   OPSPACK_TOKEN - a bearer token the runner accepts (required)
//   OPSPACK_FORMAT - force a reply format (text, markdown, slack, mattermost); default:
//                    slack on the Slack adapter, text otherwise
//
// Commands:
//   hubot <opspack command> - run it, e.g. `hubot server test web01 --ports 22,443`
//   hubot confirm <token> - run the destructive command that asked for this confirmation
//   hubot <command id> --arg value - the same through Hubot's command bus
//
// Author:
//   opspack

const DEFAULT_URL = 'http://127.0.0.1:8080'

// JSON Schema of one argument -> a Hubot command-bus argument.
export function busArg (schema, required) {
  const arg = { required: Boolean(required) }
  if (Array.isArray(schema.enum)) {
    arg.type = 'enum'
    arg.values = schema.enum.map(String)
  } else if (schema.type === 'integer' || schema.type === 'number') {
    arg.type = 'number'
  } else if (schema.type === 'boolean') {
    arg.type = 'boolean'
  } else {
    arg.type = 'string' // strings, and lists given comma-separated
  }
  if (schema.default !== undefined && schema.default !== null && !Array.isArray(schema.default)) {
    arg.default = schema.default
  }
  return arg
}

// Bus arguments (strings and numbers) -> the command's typed arguments.
export function toArgs (entry, args) {
  const props = entry.args_schema.properties || {}
  const out = {}
  for (const [name, value] of Object.entries(args)) {
    const schema = props[name]
    if (!schema || value === undefined || value === null) continue
    if (schema.type === 'array' && !Array.isArray(value)) {
      const items = String(value).split(',').map(s => s.trim()).filter(Boolean)
      const numeric = schema.items && (schema.items.type === 'integer' || schema.items.type === 'number')
      out[name] = numeric ? items.map(Number) : items
    } else {
      out[name] = value
    }
  }
  return out
}

// Registry entry -> robot.commands.register spec (the handler is added by the caller).
export function busSpec (entry) {
  const schema = entry.args_schema || {}
  const required = new Set(schema.required || [])
  const args = {}
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    if (prop.type === 'object') continue // KEY=value mappings: use the chat form
    args[name] = busArg(prop, required.has(name))
  }
  const effects = entry.effects || {}
  const sideEffects = []
  if (!effects.read_only) sideEffects.push(effects.destructive ? 'destructive' : 'mutating')
  const spec = {
    id: entry.id,
    description: entry.summary,
    aliases: [entry.chat.words.join(' '), ...(entry.chat.aliases || [])],
    examples: entry.chat.examples || [],
    args,
    sideEffects,
    confirm: effects.confirm ? 'always' : 'never'
  }
  if (entry.permission) spec.permissions = { roles: [entry.permission] }
  return spec
}

export default async (robot) => {
  const base = (process.env.OPSPACK_URL || DEFAULT_URL).replace(/\/+$/, '')
  const token = process.env.OPSPACK_TOKEN
  if (!token) {
    robot.logger.error('hubot-opspack: set OPSPACK_TOKEN (a token of the runner, OPSPACK_SERVE_TOKENS)')
    return
  }
  const adapter = String(robot.adapterName || '')
  const format = process.env.OPSPACK_FORMAT || (/slack/i.test(adapter) ? 'slack' : 'text')

  async function request (path, body) {
    const response = await fetch(base + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const data = await response.json().catch(() => null)
    if (!response.ok) {
      const why = data && data.error ? data.error.message : response.statusText
      throw new Error(`the opspack runner answered ${response.status}: ${why}`)
    }
    return data
  }

  const caller = (message) => ({
    user: String(message.user.name || message.user.id),
    roles: [],
    channel: message.room || null,
    format
  })

  // The runner's answer -> what Hubot posts: messages for Slack, text otherwise.
  async function post (res, data) {
    if (format === 'json' || !('rendered' in data)) {
      res.send('```\n' + JSON.stringify(data, null, 2) + '\n```')
      return
    }
    if (typeof data.rendered === 'string') {
      res.send(data.rendered.replace(/\s+$/, ''))
      return
    }
    for (const message of data.rendered) {
      if (message.upload) continue // files need the adapter's own upload API
      res.send(message)
    }
  }

  // Every command of the runner's registry on the command bus, kept in step with it: read
  // at start (again every few seconds while the runner is not up yet), then every
  // OPSPACK_REFRESH_S seconds, so commands of packs installed on the runner appear and
  // those removed disappear without restarting Hubot.
  const refreshS = Number(process.env.OPSPACK_REFRESH_S ?? 300)
  const retryS = Number(process.env.OPSPACK_RETRY_S ?? 5)
  const registered = new Set()
  let seen = null

  function handlerFor (entry) {
    return async ({ args, context }) => {
      const who = caller(context.message)
      let data = await request('/invoke', { ...who, command: entry.id, args: toArgs(entry, args) })
      const confirm = data.reply && data.reply.error && data.reply.error.confirm
      if (confirm && confirm.token && entry.effects.confirm) {
        // The user has just said yes to the command bus's own proposal.
        data = await request('/invoke', { ...who, confirm_token: confirm.token })
      }
      if (typeof data.rendered === 'string') return data.rendered.replace(/\s+$/, '')
      await post(context.res, data)
      return data.reply && data.reply.ok ? 'Done.' : 'It did not work (see above).'
    }
  }

  async function syncRegistry () {
    const registry = await request('/registry')
    const text = JSON.stringify(registry.commands)
    if (text === seen) return false
    const now = new Set()
    for (const entry of registry.commands) {
      const spec = busSpec(entry)
      spec.handler = handlerFor(entry)
      try {
        robot.commands.register(spec, { update: true })
        now.add(entry.id)
      } catch (err) {
        robot.logger.warning(`hubot-opspack: cannot register ${entry.id}: ${err.message}`)
      }
    }
    for (const id of registered) {
      if (!now.has(id)) robot.commands.unregister(id)
    }
    registered.clear()
    for (const id of now) registered.add(id)
    seen = text
    robot.logger.info(`hubot-opspack: ${registered.size} commands from ${base}`)
    return true
  }

  let timer = null
  function schedule (seconds) {
    if (!(seconds > 0)) return
    timer = setTimeout(async () => {
      try {
        await syncRegistry()
        schedule(refreshS)
      } catch (err) {
        robot.logger.warning(`hubot-opspack: cannot read the registry from ${base}: ${err.message}`)
        schedule(seen === null ? retryS : refreshS)
      }
    }, seconds * 1000)
    timer.unref() // never what keeps Hubot running
  }

  try {
    await syncRegistry()
    schedule(refreshS)
  } catch (err) {
    robot.logger.error(`hubot-opspack: cannot read the registry from ${base}: ${err.message} (retrying)`)
    schedule(retryS)
  }

  // Free chat text: the same grammar as `opspack run` (`vm list --cluster c1`).
  robot.respond(/([\s\S]+)/, async (res) => {
    const text = res.match[1].trim()
    if (!text) return
    try {
      await post(res, await request('/chat', { ...caller(res.message), text }))
    } catch (err) {
      res.reply(`opspack: ${err.message}`)
    }
  })
}
