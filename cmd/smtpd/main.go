// Command smtpd receives mail: SMTP from other servers (port 25),
// submission from users (587 with STARTTLS, 465 with implicit TLS) and LMTP.
// It answers 250 only once a message is durable in the store.
package main

import "gannet/lib/app"

func main() {
	a := app.NewApp("smtpd", "receive mail over SMTP, submission and LMTP")
	a.UsageText = "smtpd [--config FILE]"
	a.Description = `smtpd is the daemon that receives mail. It serves the sockets systemd
passes it by name (smtp, submission, submissions, lmtp) or, without socket
activation, the [[smtpd.listener]] addresses of the configuration. A message
is accepted (250) only once it is durable in the queue.`
	a.Action = app.NotImplementedAction("receiving mail", 3)
	app.Main(a)
}
