// Command jmapd serves JMAP, the HTTP management API, the web pages and
// ACME http-01 answers.
package main

import "gannet/lib/app"

func main() {
	a := app.NewApp("jmapd", "serve JMAP, the HTTP management API and ACME http-01 answers")
	a.UsageText = "jmapd [--config FILE]"
	a.Description = `jmapd is the HTTP server: JMAP for mail clients, the management API, the
web pages and the answers to ACME http-01 challenges. It serves the sockets
systemd passes it by name (http, https) or, without socket activation, the
[[jmapd.listener]] addresses of the configuration.`
	a.Action = app.NotImplementedAction("serving JMAP and HTTP", 0)
	app.Main(a)
}
