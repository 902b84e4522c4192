package queue

// This file adapts what queued's wiring hands the worker: DKIM keys read
// from the store, MTA-STS policies from lib/mtasts.

import (
	"context"
	"strings"
	"sync"
	"time"

	"gannet/lib/msgauth"
	"gannet/lib/mta"
	"gannet/lib/mtasts"
	"gannet/lib/store"
)

// DefaultKeyTTL is how long StoreSigner keeps a domain's keys before it
// reads them again: a key made or retired with userctl signs, or stops
// signing, within this long.
const DefaultKeyTTL = time.Minute

// maxSignerDomains bounds the domains StoreSigner keeps keys of.
const maxSignerDomains = 4096

// StoreSigner signs with the DKIM keys of the store (userctl dkim), reading
// a domain's keys again after TTL. It is safe for concurrent use.
type StoreSigner struct {
	// Keys is the store's DKIM keys.
	Keys store.DKIMKeys
	// TTL is how long a domain's keys are kept; 0 means DefaultKeyTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	domains map[string]signerEntry
}

type signerEntry struct {
	signer  *msgauth.Signer
	err     error
	expires time.Time
}

// Sign returns the DKIM-Signature fields for msg from domain's active
// keys, or nil when it has none (see msgauth.Signer.Sign).
func (s *StoreSigner) Sign(ctx context.Context, domain string, msg []byte) ([]byte, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	s.mu.Lock()
	ent, ok := s.domains[domain]
	s.mu.Unlock()
	if !ok || !now.Before(ent.expires) {
		ttl := s.TTL
		if ttl <= 0 {
			ttl = DefaultKeyTTL
		}
		keys, err := s.Keys.ListDKIMKeys(ctx, domain)
		if err != nil {
			return nil, err // not cached: the store may be back soon
		}
		ent = signerEntry{expires: now.Add(ttl)}
		ent.signer, ent.err = msgauth.NewSigner(keys)
		s.mu.Lock()
		if s.domains == nil || len(s.domains) >= maxSignerDomains {
			s.domains = map[string]signerEntry{}
		}
		s.domains[domain] = ent
		s.mu.Unlock()
	}
	if ent.err != nil {
		return nil, ent.err
	}
	return ent.signer.Sign(domain, msg)
}

// MTASTSPolicies makes an MTA-STS cache the policy source of an mta.Client.
func MTASTSPolicies(c *mtasts.Cache) mta.PolicySource {
	return mta.PolicyFunc(func(ctx context.Context, domain string) (*mta.Policy, error) {
		p, err := c.Get(ctx, domain)
		if err != nil || p == nil {
			return nil, err
		}
		return &mta.Policy{Mode: string(p.Mode), MX: p.MX}, nil
	})
}
