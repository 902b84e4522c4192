package mtasts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"

	"gannet/lib/cache"
)

// Timeouts and limits of policy discovery.
const (
	// FetchTimeout bounds the HTTPS GET of a policy (RFC 8461 section 3.3
	// suggests one minute).
	FetchTimeout = time.Minute
	// LookupTimeout bounds the TXT lookup.
	LookupTimeout = 30 * time.Second
	// RetryAfterFailure is how long a failed fetch is not tried again for
	// the same domain and id (section 3.3: "five minutes or longer per
	// version ID").
	RetryAfterFailure = 5 * time.Minute
	// MemoryEntries bounds the policies held in memory; more are read
	// back from the directory when needed.
	MemoryEntries = 10000
	// maxFailures is the number of remembered failures above which those
	// that are over are swept out.
	maxFailures = 1000
	// maxFileSize bounds a cache file read back from the directory.
	maxFileSize = 4 * MaxPolicySize
)

// TXTResolver looks up TXT records. *msgauth.Resolver and *net.Resolver
// implement it. A name without TXT records is reported as a *net.DNSError
// with IsNotFound.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Cache discovers, fetches and caches the MTA-STS policies of recipient
// domains (RFC 8461 sections 3 and 5.1). It is safe for concurrent use;
// concurrent Gets for one domain share one lookup and fetch.
type Cache struct {
	// Logger receives the reasons a policy could not be had (a bad TXT
	// record, a failed fetch); nil means slog.Default().
	Logger *slog.Logger

	resolver TXTResolver
	client   *http.Client
	dir      string
	now      func() time.Time

	mem *cache.Cache[string, *Policy]

	mu       sync.Mutex
	inflight map[string]*call
	failed   map[string]failure // by domain: the last failed fetch
}

// call is a Get in progress that other Gets for the same domain wait for.
type call struct {
	done    chan struct{}
	policy  *Policy
	waiters int // Gets waiting for it (for tests)
}

// failure is a fetch that failed: not tried again for the same id before
// until.
type failure struct {
	id    string
	until time.Time
}

// NewCache returns a cache that looks up _mta-sts TXT records with r and
// fetches policies with client (nil: a client of its own verifying
// certificates against the system's roots). Whatever the client, redirects
// are not followed and the response must come over verified TLS. When dir
// is not empty, policies are also kept there as files, one per domain, so
// that a restarted process keeps them (section 5.1 asks senders to cache
// policies); the directory is made if missing.
func NewCache(r TXTResolver, client *http.Client, dir string) *Cache {
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		client = &http.Client{Transport: t}
	}
	// RFC 8461 section 3.3: "HTTP 3xx redirects MUST NOT be followed".
	// A copy, so that the caller's client is left as it was.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Jar = nil
	return &Cache{
		resolver: r,
		client:   &c,
		dir:      dir,
		now:      time.Now,
		mem:      cache.New[string, *Policy](MemoryEntries),
		inflight: map[string]*call{},
		failed:   map[string]failure{},
	}
}

// Get returns the policy that applies to mail for domain, or nil, nil when
// there is none. The policy's mode may be None: the domain has withdrawn
// its policy, and mail goes as if it had none.
//
// It looks up the _mta-sts TXT record of domain (RFC 8461 section 3.1).
// When its id is that of the cached policy and that has not expired, the
// cached policy is returned; otherwise the policy is fetched from
// https://mta-sts.<domain>/.well-known/mta-sts.txt (section 3.3), cached
// and returned. When there is no valid record (none, several, a bad one,
// or the lookup failed) or the fetch fails, the cached policy is returned
// if it has not expired (section 5.1), else nil. Failures are logged, not
// returned: section 5.1 has mail go on without a policy then.
//
// Get returns an error only for a domain that is not a domain name (an
// address literal, say) and when ctx ends before the answer and no cached
// policy is at hand. The lookup and fetch go on after that for the next
// Get.
func (c *Cache) Get(ctx context.Context, domain string) (*Policy, error) {
	d, err := normalizeDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("mta-sts policy for %q: %w", domain, err)
	}
	c.mu.Lock()
	cl, ok := c.inflight[d]
	if !ok {
		cl = &call{done: make(chan struct{})}
		c.inflight[d] = cl
		go c.discover(context.WithoutCancel(ctx), d, cl)
	}
	cl.waiters++
	c.mu.Unlock()

	select {
	case <-cl.done:
		if cl.policy == nil {
			return nil, nil
		}
		return cl.policy.clone(), nil
	case <-ctx.Done():
		if p, ok := c.mem.Get(d); ok && c.now().Before(p.Expires()) {
			return p.clone(), nil
		}
		return nil, fmt.Errorf("mta-sts policy for %s: %w", d, context.Cause(ctx))
	}
}

// discover finds the policy of domain d and hands it to the Gets waiting
// on cl.
func (c *Cache) discover(ctx context.Context, d string, cl *call) {
	defer func() {
		c.mu.Lock()
		delete(c.inflight, d)
		c.mu.Unlock()
		close(cl.done)
	}()
	cached := c.cached(d)

	lctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	id, err := c.lookupID(lctx, d)
	cancel()
	if err != nil {
		if !errors.Is(err, errNoRecord) {
			c.logger().Warn("mta-sts: policy discovery failed", "domain", d, "err", err, "cached", cached != nil)
		}
		// Section 5.1: with no live policy, a cached unexpired one applies.
		cl.policy = cached
		return
	}
	if cached != nil && cached.ID == id {
		// Section 3.1: the same id means the same policy.
		cl.policy = cached
		return
	}
	now := c.now()
	c.mu.Lock()
	f, failedBefore := c.failed[d]
	c.mu.Unlock()
	if failedBefore && f.id == id && now.Before(f.until) {
		// Section 3.3: do not hammer a policy host that just failed.
		cl.policy = cached
		return
	}

	fctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	p, err := c.fetch(fctx, d)
	cancel()
	if err != nil {
		c.noteFailure(d, id, now)
		c.logger().Warn("mta-sts: policy fetch failed", "domain", d, "id", id, "err", err, "cached", cached != nil)
		cl.policy = cached
		return
	}
	p.ID = id
	p.Fetched = c.now()
	c.mu.Lock()
	delete(c.failed, d)
	c.mu.Unlock()
	c.mem.Set(d, p)
	if err := c.save(d, p); err != nil {
		c.logger().Warn("mta-sts: cannot keep policy on disk", "domain", d, "err", err)
	}
	cl.policy = p
}

// noteFailure remembers a failed fetch of domain d under id, so that it is
// not tried again for RetryAfterFailure, and forgets the failures that
// are over when there are many.
func (c *Cache) noteFailure(d, id string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failed) >= maxFailures {
		for k, f := range c.failed {
			if !now.Before(f.until) {
				delete(c.failed, k)
			}
		}
	}
	c.failed[d] = failure{id: id, until: now.Add(RetryAfterFailure)}
}

// errNoRecord says that a domain has no MTA-STS TXT record.
var errNoRecord = errors.New("no MTA-STS record")

// lookupID returns the id of the _mta-sts TXT record of d (RFC 8461
// section 3.1), errNoRecord when there is none.
func (c *Cache) lookupID(ctx context.Context, d string) (string, error) {
	name := "_mta-sts." + d
	txts, err := c.resolver.LookupTXT(ctx, name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return "", errNoRecord
		}
		return "", fmt.Errorf("lookup TXT %s: %w", name, err)
	}
	// Section 3.1: records that do not begin with "v=STSv1;" are
	// discarded; if not exactly one remains, the domain has no policy
	// (spaces before the ";" are allowed by the grammar).
	var recs []string
	for _, t := range txts {
		rest, ok := strings.CutPrefix(t, "v=STSv1")
		if ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), ";") {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return "", errNoRecord
	case 1:
	default:
		return "", fmt.Errorf("TXT %s: %d MTA-STS records, want one", name, len(recs))
	}
	id, err := parseRecord(recs[0])
	if err != nil {
		return "", fmt.Errorf("TXT %s: %w", name, err)
	}
	return id, nil
}

// fetch gets and parses the policy of d (RFC 8461 section 3.3).
func (c *Cache) fetch(ctx context.Context, d string) (*Policy, error) {
	url := "https://mta-sts." + d + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	// Section 3.3: "HTTP caching MUST NOT be used" (none here; ask the
	// same of any cache on the way).
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	// The client verifies the certificate against the name
	// mta-sts.<domain>; make sure a client that was told to skip that
	// cannot slip a policy through.
	if resp.TLS == nil || len(resp.TLS.VerifiedChains) == 0 {
		return nil, fmt.Errorf("GET %s: not over TLS with a verified certificate", url)
	}
	// Section 3.3: only a 200 answer counts; redirects are not followed.
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, fmt.Errorf("GET %s: redirect (%s) refused", url, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	// Section 3.2: the media type must be text/plain.
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("GET %s: content type %q, want text/plain", url, ct)
	}
	// Section 3.3: a size limit on the body.
	if resp.ContentLength > MaxPolicySize {
		return nil, fmt.Errorf("GET %s: policy of %d bytes, larger than %d", url, resp.ContentLength, MaxPolicySize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > MaxPolicySize {
		return nil, fmt.Errorf("GET %s: policy larger than %d bytes", url, MaxPolicySize)
	}
	p, err := Parse(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return p, nil
}

// cached returns the unexpired policy cached for d, from memory or else
// from the directory, or nil.
func (c *Cache) cached(d string) *Policy {
	now := c.now()
	p, ok := c.mem.Get(d)
	if !ok {
		var err error
		p, err = c.load(d)
		if err != nil {
			c.logger().Warn("mta-sts: cannot read cached policy", "domain", d, "err", err)
		}
		if p == nil {
			return nil
		}
		c.mem.Set(d, p)
	}
	if !now.Before(p.Expires()) {
		// Expired (section 3.2, max_age): forget it.
		c.mem.Delete(d)
		if c.dir != "" {
			os.Remove(c.file(d))
		}
		return nil
	}
	return p
}

// record is the form of a policy in the cache directory. The policy is
// kept as text and parsed again when read, so a damaged file is refused.
type record struct {
	Domain  string    `json:"domain"`
	ID      string    `json:"id"`
	Fetched time.Time `json:"fetched"`
	Policy  string    `json:"policy"`
}

// file returns the name of the cache file of domain d (a checked domain
// name, so it cannot climb out of the directory).
func (c *Cache) file(d string) string { return filepath.Join(c.dir, d+".json") }

// save writes p to the directory, atomically: to a temporary file renamed
// over the old one.
func (c *Cache) save(d string, p *Policy) error {
	if c.dir == "" {
		return nil
	}
	b, err := json.Marshal(record{Domain: d, ID: p.ID, Fetched: p.Fetched, Policy: p.String()})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.dir, "."+d+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.file(d))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save mta-sts policy of %s: %w", d, err)
	}
	return nil
}

// load reads the policy of d from the directory: nil, nil when there is
// none.
func (c *Cache) load(d string) (*Policy, error) {
	if c.dir == "" {
		return nil, nil
	}
	f, err := os.Open(c.file(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", f.Name(), maxFileSize)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if r.Domain != d {
		return nil, fmt.Errorf("%s: policy of %q", f.Name(), r.Domain)
	}
	if _, err := parseRecord("v=STSv1; id=" + r.ID); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	p, err := Parse([]byte(r.Policy))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	p.ID = r.ID
	p.Fetched = r.Fetched
	return p, nil
}

func (c *Cache) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// normalizeDomain returns domain in lower case, in A-labels, without a
// trailing dot, or an error when it is not a domain name.
func normalizeDomain(domain string) (string, error) {
	d := strings.TrimSuffix(domain, ".")
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return "", fmt.Errorf("not a domain name: %w", err)
			}
			d = a
			break
		}
	}
	d = strings.ToLower(d)
	if err := checkDomain(d); err != nil {
		return "", fmt.Errorf("not a domain name: %w", err)
	}
	return d, nil
}
