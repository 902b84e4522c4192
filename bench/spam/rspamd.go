package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"gannet/lib/dnstest"
)

// rspamdOff are the modules turned off in the private rspamd: those that
// ask DNS or other servers (as SpamAssassin runs --local), and those that
// learn or keep state beside Bayes.
var rspamdOff = []string{"rbl", "surbl", "emails", "asn", "spf", "dkim", "dmarc", "arc", "fuzzy_check",
	"dcc", "mx_check", "neural", "ratelimit", "greylist", "history_redis", "replies", "reputation",
	"url_redirector", "rspamd_update", "p0f", "antivirus", "external_services", "clickhouse", "elastic",
	"metadata_exporter", "bimi"}

// runRspamd starts a private redis-server and rspamd (its own
// configuration directory copied from Debian's, loopback ports), trains
// rspamd's Bayes (Redis backend) over the controller's /learnspam and
// /learnham, and classifies with the normal worker's /checkv2. A message
// is spam when rspamd's action is "add header", "rewrite subject" or
// "reject" (Debian's thresholds: 6 and 15).
func runRspamd(ctx context.Context, cfg Config, train, test []Msg) (*Result, error) {
	if err := ensureTools(ctx, map[string]string{"rspamd": "rspamd", "redis-server": "redis-server"}); err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "gannet-bench-rspamd-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	var ports [4]int // redis, normal, controller, proxy
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"redis", "db", "run", "log"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			return nil, err
		}
	}
	redis, err := startDaemon("/usr/bin/redis-server", filepath.Join(home, "redis.log"), "--port", strconv.Itoa(ports[0]),
		"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", filepath.Join(home, "redis"), "--daemonize", "no")
	if err != nil {
		return nil, err
	}
	defer redis.Stop()
	if err := waitPort(ctx, fmt.Sprintf("127.0.0.1:%d", ports[0]), redis); err != nil {
		return nil, fmt.Errorf("redis-server: %w\n%s", err, redis.LogTail(2000))
	}

	// No network: DNS goes to a loopback server that knows no name and
	// answers at once (NXDOMAIN), so no check waits on a timeout.
	dns, err := dnstest.Start()
	if err != nil {
		return nil, err
	}
	defer dns.Close()

	etc := filepath.Join(home, "etc")
	if out, err := exec.CommandContext(ctx, "cp", "-r", "/etc/rspamd", etc).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy /etc/rspamd: %w\n%s", err, out)
	}
	redisAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	files := map[string]string{
		"override.d/worker-normal.inc":     fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\ncount = %d;\n", ports[1], max(cfg.Workers, 1)),
		"override.d/worker-controller.inc": fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\n", ports[2]),
		"override.d/worker-proxy.inc":      fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\n", ports[3]),
		"override.d/logging.inc":           "type = \"console\";\nlevel = \"error\";\n",
		"local.d/options.inc":              fmt.Sprintf("dns {\n  nameserver = [%q];\n  timeout = 1s;\n}\n", dns.Addr()),
		"local.d/redis.conf":               fmt.Sprintf("servers = %q;\n", redisAddr),
		"local.d/classifier-bayes.conf":    fmt.Sprintf("servers = %q;\nbackend = \"redis\";\nautolearn = false;\n", redisAddr),
	}
	for _, m := range rspamdOff {
		files["local.d/"+m+".conf"] = "enabled = false;\n"
	}
	for name, content := range files {
		p := filepath.Join(etc, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	if out, err := exec.CommandContext(ctx, "chown", "-R", "_rspamd:_rspamd", home).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown: %w\n%s", err, out)
	}
	rspamd, err := startDaemon("/usr/bin/rspamd", filepath.Join(home, "rspamd.log"), "-f", "-u", "_rspamd", "-g", "_rspamd",
		"-c", filepath.Join(etc, "rspamd.conf"), "--var=CONFDIR="+etc, "--var=LOCAL_CONFDIR="+etc,
		"--var=DBDIR="+filepath.Join(home, "db"), "--var=RUNDIR="+filepath.Join(home, "run"),
		"--var=LOGDIR="+filepath.Join(home, "log"), "-p", filepath.Join(home, "run", "rspamd.pid"))
	if err != nil {
		return nil, err
	}
	defer rspamd.Stop()
	normal := fmt.Sprintf("127.0.0.1:%d", ports[1])
	controller := fmt.Sprintf("127.0.0.1:%d", ports[2])
	for _, a := range []string{normal, controller} {
		if err := waitPort(ctx, a, rspamd); err != nil {
			return nil, fmt.Errorf("rspamd: %w\n%s", err, rspamd.LogTail(3000))
		}
	}
	client := &http.Client{Timeout: time.Minute}
	res := &Result{System: "rspamd", Sets: map[string]*SetResult{}}
	start := time.Now()
	if cfg.Verbose {
		fmt.Fprintf(os.Stderr, "rspamd: learning %d messages\n", len(train))
	}
	learned := &Result{Sets: map[string]*SetResult{}}
	err = classifyAll(ctx, 4, train, learned, func(m Msg) (bool, float64, error) {
		path := "/learnham"
		if isSpamSet(m.Set) {
			path = "/learnspam"
		}
		var out map[string]any
		code, err := post(ctx, client, "http://"+controller+path, m.Raw, &out)
		// 208: already learned; a message with too few tokens is refused
		// (a 4xx) and skipped, as rspamc would report it.
		if err != nil || code >= 500 {
			return false, 0, fmt.Errorf("%s: %d %v %v", path, code, out, err)
		}
		return code < 300, 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, rspamd.LogTail(3000))
	}
	res.Train = time.Since(start)
	n := 0
	for _, s := range learned.Sets {
		n += s.Flagged
	}
	if cfg.Verbose {
		fmt.Fprintf(os.Stderr, "rspamd: learned %d of %d; classifying %d messages\n", n, len(train), len(test))
	}
	err = classifyAll(ctx, max(cfg.Workers, 1), test, res, func(m Msg) (bool, float64, error) {
		var out struct {
			Action string  `json:"action"`
			Score  float64 `json:"score"`
		}
		code, err := post(ctx, client, "http://"+normal+"/checkv2", m.Raw, &out)
		if err != nil || code != 200 {
			return false, 0, fmt.Errorf("checkv2: %d %v", code, err)
		}
		switch out.Action {
		case "reject", "add header", "rewrite subject":
			return true, out.Score, nil
		}
		return false, out.Score, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, rspamd.LogTail(3000))
	}
	res.Note = fmt.Sprintf("Bayes in Redis (%d of %d training messages learned), network modules off, spam = action add header or above", n, len(train))
	return res, nil
}

// post sends body and decodes the JSON answer into out.
func post(ctx context.Context, c *http.Client, url string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s: %w (%.200s)", url, err, b)
	}
	return resp.StatusCode, nil
}
