"""Alerts: webhooks that tell a person something needs attention, and never get in the way. An
`Alert` (`model`) names a problem, a tier and a runbook; `AlertRouter.from_config()` (`router`)
reads the `alerts:` section and routes each tier to its channels. Nothing here raises into the
caller, and httpx is imported only where a send happens, so importing the package stays cheap.
Exports nothing: import from the modules. See docs/alerts.md.
"""
