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
//                    slack on the Slack adapter, text otherwise. Files (a cut table's CSV,
//                    an image) are uploaded where the adapter can, else linked: the
//                    runner stores them behind signed, expiring links ([serve] public_url)
//   OPSPACK_JOBS_ASYNC_AFTER_S - commands with a longer timeout run as background jobs
//                    (default 60, as the runner's [jobs] async_after_s)
//   OPSPACK_PROGRESS_S - seconds at least between two progress lines of a job (default 5)
//   OPSPACK_POLL_S - seconds between readings of a job when its event stream broke off (default 1)
//
// Commands:
//   hubot <opspack command> - run it, e.g. `hubot server test web01 --ports 22,443`;
//                             long work answers "Started job N", then progress and the result
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

// The words that name each command in chat, as the runner's grammar reads them: its id, its
// words and aliases, each also after its pack's name -> the registry entries they name.
export function chatForms (commands) {
  const forms = new Map()
  const norm = (text) => text.toLowerCase().replace(/_/g, '-').split(/\s+/).filter(Boolean).join(' ')
  const add = (form, entry) => {
    const key = norm(form)
    if (!key) return
    if (!forms.has(key)) forms.set(key, [])
    if (!forms.get(key).includes(entry)) forms.get(key).push(entry)
  }
  for (const entry of commands) {
    const pack = entry.pack && entry.pack.name
    add(entry.id, entry)
    const chat = entry.chat || {}
    for (const form of [(chat.words || []).join(' '), ...(chat.aliases || [])]) {
      add(form, entry)
      if (pack && !norm(form).startsWith(pack + ' ')) add(`${pack} ${form}`, entry)
    }
  }
  return forms
}

// The entries chat text names (the longest run of leading words that names commands).
export function namedBy (forms, text) {
  const words = String(text).toLowerCase().replace(/_/g, '-').split(/\s+/).filter(Boolean)
  for (let n = Math.min(words.length, 8); n > 0; n--) {
    const found = forms.get(words.slice(0, n).join(' '))
    if (found) return found
  }
  return []
}

// A command whose timeout is over the threshold runs as a background job.
export function isLong (entry, asyncAfterS = 60) {
  return Number(entry.timeout_s ?? 30) > asyncAfterS
}

// Server-Sent Events in `text` -> the complete events ({event, data}) and the rest (an
// event still arriving). https://html.spec.whatwg.org/multipage/server-sent-events.html
export function sseEvents (text) {
  const events = []
  const blocks = text.replace(/\r\n?/g, '\n').split('\n\n')
  const rest = blocks.pop()
  for (const block of blocks) {
    let event = 'message'
    const data = []
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'event') event = value
      else if (field === 'data') data.push(value)
    }
    if (data.length) events.push({ event, data: data.join('\n') })
  }
  return { events, rest }
}

// One progress line of a job: `job 42: ▓▓▓▓░░░░░░ 40% step 2 of 5`.
export function progressLine (id, line) {
  let bar = ''
  if (line.percent !== null && line.percent !== undefined) {
    const p = Math.max(0, Math.min(100, Number(line.percent)))
    const full = Math.round(p / 10)
    bar = `${'▓'.repeat(full)}${'░'.repeat(10 - full)} ${Math.round(p)}% `
  }
  return `job ${id}: ${bar}${line.message}`
}

const FINAL = new Set(['succeeded', 'failed', 'interrupted', 'cancelled'])
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

export default async (robot) => {
  const base = (process.env.OPSPACK_URL || DEFAULT_URL).replace(/\/+$/, '')
  const token = process.env.OPSPACK_TOKEN
  if (!token) {
    robot.logger.error('hubot-opspack: set OPSPACK_TOKEN (a token of the runner, OPSPACK_SERVE_TOKENS)')
    return
  }
  const adapter = String(robot.adapterName || '')
  const format = process.env.OPSPACK_FORMAT || (/slack/i.test(adapter) ? 'slack' : 'text')
  const asyncAfterS = Number(process.env.OPSPACK_JOBS_ASYNC_AFTER_S ?? 60)
  const progressS = Number(process.env.OPSPACK_PROGRESS_S ?? 5)
  const pollS = Number(process.env.OPSPACK_POLL_S ?? 1)
  let forms = new Map()

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
      if (message.upload) await postFile(res, message.upload)
      else res.send(message)
    }
  }

  // A file a reply carries (a cut table's CSV, an image): uploaded where the adapter can
  // (the Slack adapter's Web API client: files.uploadV2), else its link from the runner
  // (signed, expiring: [serve] artifact_ttl_s).
  async function postFile (res, file) {
    const web = robot.adapter && robot.adapter.client && robot.adapter.client.web
    if (web && web.files && typeof web.files.uploadV2 === 'function') {
      try {
        await web.files.uploadV2({
          channel_id: res.message.room,
          file: Buffer.from(file.content_base64, 'base64'),
          filename: file.filename,
          title: file.title,
          ...(file.alt_text ? { alt_text: file.alt_text } : {})
        })
        return
      } catch (err) {
        robot.logger.warn(`hubot-opspack: cannot upload ${file.filename} (${err.message}); posting its link`)
      }
    }
    if (file.url) res.send(`${file.title}: ${file.url}`)
    else res.send(`${file.title} (${file.filename}) cannot be shown here: this adapter cannot upload it and the runner gave no link.`)
  }

  // Long work: a job of the runner. "Started job N" at once, then its progress lines (one
  // every OPSPACK_PROGRESS_S seconds at most, and the last one), then its result, rendered
  // as any reply. Followed through GET /jobs/<id>/events; if that stream breaks off,
  // by reading GET /jobs/<id> every OPSPACK_POLL_S seconds. Resolves to the job's reply.
  async function follow (res, job, text) {
    res.send(`Started job ${job.id}: ${text}`)
    let lines = 0 // progress lines received so far
    let lastAt = 0
    let pending = null
    let timer = null
    const show = (line) => {
      clearTimeout(timer)
      timer = null
      pending = null
      lastAt = Date.now()
      res.send(progressLine(job.id, line))
    }
    const progress = (line) => {
      lines += 1
      const wait = lastAt + progressS * 1000 - Date.now()
      if (wait <= 0) return show(line)
      pending = line // shown when its turn comes, unless a newer line takes its place
      if (!timer) timer = setTimeout(() => pending && show(pending), wait)
    }
    let reply
    try {
      reply = await streamJob(job.id, progress)
    } catch (err) {
      robot.logger.warn(`hubot-opspack: the events of job ${job.id} broke off (${err.message}); polling instead`)
    }
    if (reply === undefined) {
      reply = await pollJob(job.id, (all) => all.slice(lines).forEach(progress))
    }
    clearTimeout(timer)
    if (pending) show(pending)
    const done = await request(`/jobs/${job.id}?format=${encodeURIComponent(format)}`)
    await post(res, format === 'json' || !('rendered' in done) ? done.reply : done)
    return done.reply
  }

  // The job's events until its result (the reply), or undefined if the stream ends first.
  async function streamJob (id, progress) {
    const response = await fetch(`${base}/jobs/${id}/events`, {
      headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token}` }
    })
    if (!response.ok || !response.body) throw new Error(`the opspack runner answered ${response.status}`)
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        const { events, rest } = sseEvents(buffer + value)
        buffer = rest
        for (const { event, data } of events) {
          if (event === 'progress') progress(JSON.parse(data))
          else if (event === 'result') return JSON.parse(data)
        }
      }
    } finally {
      reader.cancel().catch(() => {})
    }
    robot.logger.warn(`hubot-opspack: the events of job ${id} ended before its result; polling instead`)
    return undefined
  }

  // Read the job until it is final (a runner restarting on the way is waited for, ten minutes at most).
  async function pollJob (id, progress) {
    let failures = 0
    for (;;) {
      try {
        const job = await request(`/jobs/${id}`)
        failures = 0
        progress(job.progress || [])
        if (FINAL.has(job.state)) return job.reply
      } catch (err) {
        failures += 1
        if (failures === 1 || failures % 30 === 0) {
          robot.logger.warn(`hubot-opspack: cannot read job ${id}: ${err.message} (trying again)`)
        }
        if (/ 404:/.test(err.message) || failures * pollS > 600) throw err // the job is gone, or the runner for ten minutes
      }
      await sleep(pollS * 1000)
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
      const typed = toArgs(entry, args)
      const long = isLong(entry, asyncAfterS)
      let data = await request('/invoke', { ...who, command: entry.id, args: typed, async: long || undefined })
      const confirm = data.reply && data.reply.error && data.reply.error.confirm
      if (confirm && confirm.token && entry.effects.confirm) {
        // The user has just said yes to the command bus's own proposal.
        data = await request('/invoke', { ...who, confirm_token: confirm.token })
      }
      if (data.job) {
        const shown = Object.entries(typed).map(([k, v]) => `--${k} ${Array.isArray(v) ? v.join(',') : v}`)
        const reply = await follow(context.res, data.job, [entry.id, ...shown].join(' '))
        return reply && reply.ok ? 'Done.' : 'It did not work (see above).'
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
        robot.logger.warn(`hubot-opspack: cannot register ${entry.id}: ${err.message}`)
      }
    }
    for (const id of registered) {
      if (!now.has(id)) robot.commands.unregister(id)
    }
    registered.clear()
    for (const id of now) registered.add(id)
    forms = chatForms(registry.commands)
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
        robot.logger.warn(`hubot-opspack: cannot read the registry from ${base}: ${err.message}`)
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
      // long work (as the registry says) starts as a job and is followed here
      const long = namedBy(forms, text).some(entry => isLong(entry, asyncAfterS))
      const data = await request('/chat', { ...caller(res.message), text, async: long || undefined })
      if (data.job) await follow(res, data.job, text)
      else await post(res, data)
    } catch (err) {
      res.reply(`opspack: ${err.message}`)
    }
  })
}
