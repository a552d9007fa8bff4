"""An assistant's access to kalshi-cli through the Model Context Protocol (`kalshi mcp`).

`tools` holds every tool as a plain method over the CLI's own wiring, `gate` the previews'
tokens and the session's budget, `settings` the config's `agent:` section, `research` the
backtests, `launch` the start and its refusals, and `server` the one module that imports the
`mcp` SDK. docs/agents.md is the guide.
"""
