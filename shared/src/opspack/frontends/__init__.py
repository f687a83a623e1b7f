"""Front-ends: the command line, the shell, the HTTP runner, Teams, Slack, MCP and the gateway they share."""
