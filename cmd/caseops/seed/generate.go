// Package seed generates realistic tagOperations and their history for load tests and reports:
// a mix of tenants (a few large, many small), actions, statuses, progress, creators and results,
// created over the last 90 days, each with the events the service would have recorded on the way
// to its final state.
package seed

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/caseops/caseops/store"
)

// Window is how far back operations are created.
const Window = 90 * 24 * time.Hour

// Generator makes operations [0, Count) spread evenly, oldest first, over the Window before Now.
// Operation i depends only on the generator's seed and i's batch, so batches may be made in any order.
type Generator struct {
	Count   int
	Now     time.Time
	Seed    uint64
	tenants []tenant
	weights []float64 // cumulative tenant weights, for a Zipf-like mix of tenant sizes
}

type tenant struct {
	id      string
	users   [][]byte // identitySet JSON of its people
	apps    [][]byte // identitySet JSON of its applications
	worker  []byte   // the application that reports progress
	userIDs []string
}

// New returns a generator of count operations in tenants tenants, created before now.
func New(count, tenants int, now time.Time, seed uint64) *Generator {
	g := &Generator{Count: count, Now: now.UTC().Truncate(time.Microsecond), Seed: seed}
	rng := rand.New(rand.NewPCG(seed, 0))
	total := 0.0
	for t := 1; t <= tenants; t++ {
		tn := tenant{id: fmt.Sprintf("tenant-%02d", t)}
		for u := 1; u <= 25; u++ {
			first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
			id := fmt.Sprintf("%s-%s%d", tn.id, string(first[0]|0x20), u)
			tn.userIDs = append(tn.userIDs, id)
			tn.users = append(tn.users, identitySet("user", id, first+" "+last))
		}
		for _, app := range appNames {
			tn.apps = append(tn.apps, identitySet("application", tn.id+"-"+app.id, app.name))
		}
		tn.worker = tn.apps[0]
		g.tenants = append(g.tenants, tn)
		total += 1 / float64(t)
		g.weights = append(g.weights, total)
	}
	for i := range g.weights {
		g.weights[i] /= total
	}
	return g
}

// Tenants lists the tenant ids, largest first.
func (g *Generator) Tenants() []string {
	ids := make([]string, len(g.tenants))
	for i, t := range g.tenants {
		ids[i] = t.id
	}
	return ids
}

func identitySet(kind, id, name string) []byte {
	b, _ := json.Marshal(map[string]map[string]string{kind: {"id": id, "displayName": name}})
	return b
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Margaret", "Ken", "Radia",
		"Dennis", "Shafi", "Leslie", "Hedy", "John", "Katherine", "Tim", "Annie", "Niklaus", "Sophie"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Allen", "Knuth", "Hamilton", "Thompson",
		"Perlman", "Ritchie", "Goldwasser", "Lamport", "Lamarr", "Backus", "Johnson", "Berners-Lee", "Easley", "Wirth", "Wilson"}
	appNames = []struct{ id, name string }{{"tagger", "Tagging worker"}, {"review", "Review set sync"}, {"export", "Export scheduler"}}
)

// actionProfile is how common an action is and how long it usually runs.
type actionProfile struct {
	action  store.Action
	weight  float64
	median  time.Duration
	success string // a result message with one %d, the number of items
}

var actionProfiles = []actionProfile{
	{store.ActionApplyTags, 0.38, 3 * time.Minute, "Tagged %d documents."},
	{store.ActionAddToReviewSet, 0.20, 25 * time.Minute, "Added %d items to the review set."},
	{store.ActionEstimateStatistics, 0.14, 2 * time.Minute, "Estimated %d items across the case's data sources."},
	{store.ActionContentExport, 0.12, 40 * time.Minute, "Exported %d items."},
	{store.ActionIndex, 0.10, 30 * time.Minute, "Indexed %d items."},
	{store.ActionConvertToPdf, 0.06, 8 * time.Minute, "Converted %d documents to PDF."},
}

// failure is a resultInfo of a failed operation.
type failure struct {
	weight  float64
	code    int32
	subcode int32 // 0: null
	message string
}

var failures = []failure{
	{0.30, 500, 0, "An internal error stopped the operation."},
	{0.20, 503, 1, "The content source is unavailable."},
	{0.15, 429, 0, "The content source throttled the operation."},
	{0.15, 403, 2, "The operation lacks permission to a custodian location."},
	{0.10, 404, 0, "The review set no longer exists."},
	{0.10, 413, 0, "The export exceeds the size limit of the case."},
}

var submissionFailures = []failure{
	{0.7, 400, 0, "The request was rejected: the search query is not valid."},
	{0.3, 409, 0, "Another operation on this case is already running."},
}

// Batch generates operations [from, to) and their events, appending to ops and events.
func (g *Generator) Batch(from, to int, ops []store.BulkOperation, events []store.BulkEvent) ([]store.BulkOperation, []store.BulkEvent) {
	rng := rand.New(rand.NewPCG(g.Seed, uint64(from)+1))
	step := float64(Window) / float64(max(g.Count, 1))
	start := g.Now.Add(-Window)
	for i := from; i < to; i++ {
		created := start.Add(time.Duration((float64(i) + rng.Float64()) * step)).Truncate(time.Microsecond)
		ops, events = g.operation(rng, created, ops, events)
	}
	return ops, events
}

// operation decides one operation's fate from its creation time and records the events that led there.
func (g *Generator) operation(rng *rand.Rand, created time.Time, ops []store.BulkOperation, events []store.BulkEvent) ([]store.BulkOperation, []store.BulkEvent) {
	t := &g.tenants[pick(rng, g.weights)]
	profile := actionProfiles[pickWeighted(rng, len(actionProfiles), func(i int) float64 { return actionProfiles[i].weight })]
	op := store.BulkOperation{TenantID: t.id, ID: newUUID(rng), Action: profile.action, CreatedDateTime: created}
	switch r := rng.Float64(); {
	case r < 0.75:
		op.CreatedBy = t.users[rng.IntN(len(t.users))]
	case r < 0.99:
		op.CreatedBy = t.apps[rng.IntN(len(t.apps))]
	} // else: created by a direct SQL writer, with no createdBy
	age := g.Now.Sub(created)
	duration := time.Duration(float64(profile.median) * math.Exp(0.9*rng.NormFloat64()))
	duration = min(max(duration, time.Second), 3*24*time.Hour)
	queued := time.Duration(rng.Float64() * float64(20*time.Second))

	b := eventBuilder{op: &op, tenant: t, rng: rng}
	switch r := rng.Float64(); {
	case r < 0.02: // refused at submission, seconds after creation
		duration = time.Duration(1+rng.IntN(60)) * time.Second
		b.created(store.StatusNotStarted, nil)
		if duration < age {
			f := submissionFailures[pickWeighted(rng, len(submissionFailures), func(i int) float64 { return submissionFailures[i].weight })]
			b.finish(created.Add(duration), store.StatusSubmissionFailed, nil, &f.code, f.message, f.subcode)
		}
	case r < 0.023 || age < queued: // never picked up (a lost message), or not yet
		b.created(store.StatusNotStarted, nil)
	case r < 0.025 || age < queued+duration: // running now, or its worker died and it will never finish
		zero := int32(0)
		b.created(store.StatusRunning, &zero)
		elapsed := age - queued
		if r < 0.025 { // a dead worker stopped reporting part-way
			elapsed = time.Duration(rng.Float64() * float64(min(duration, age-queued)))
		}
		if progress := int32(99 * float64(elapsed) / float64(duration)); progress > 0 {
			b.progress(created.Add(queued+elapsed), progress)
		}
	default:
		zero := int32(0)
		b.created(store.StatusRunning, &zero)
		completed := created.Add(queued + duration)
		items := 50 + rng.IntN(20000)
		switch r := rng.Float64(); {
		case r < 0.90:
			hundred, code := int32(100), int32(0)
			b.finish(completed, store.StatusSucceeded, &hundred, &code, fmt.Sprintf(profile.success, items), 0)
		case r < 0.94:
			hundred, code := int32(100), int32(207)
			msg := fmt.Sprintf("Completed %d of %d items; %d could not be read.", items*9/10, items, items-items*9/10)
			b.finish(completed, store.StatusPartiallySucceeded, &hundred, &code, msg, 1)
		default:
			f := failures[pickWeighted(rng, len(failures), func(i int) float64 { return failures[i].weight })]
			progress := int32(rng.IntN(96))
			b.finish(completed, store.StatusFailed, &progress, &f.code, f.message, f.subcode)
		}
	}
	return append(ops, op), append(events, b.events...)
}

// eventBuilder records the events of one operation and keeps the operation's row in step with them.
type eventBuilder struct {
	op     *store.BulkOperation
	tenant *tenant
	rng    *rand.Rand
	events []store.BulkEvent
}

func (b *eventBuilder) add(at time.Time, kind store.EventKind, actor []byte, changes []byte) {
	b.events = append(b.events, store.BulkEvent{TenantID: b.op.TenantID, OperationID: b.op.ID, OccurredAt: at,
		Kind: kind, Actor: actor, RequestID: newUUID(b.rng).String(), Changes: changes})
	b.op.Version = int64(len(b.events))
	b.op.LastModifiedDateTime = at
}

// created records the creation in status, with progress (nil: none), as case_operation_changes(NULL, row) would.
func (b *eventBuilder) created(status store.Status, progress *int32) {
	b.op.Status, b.op.PercentProgress = status, progress
	c := []byte(`{"createdDateTime": {"old": null, "new": `)
	c = appendTime(c, b.op.CreatedDateTime)
	c = append(c, `}, "status": {"old": null, "new": "`...)
	c = append(c, status...)
	c = append(c, `"}, "action": {"old": null, "new": "`...)
	c = append(c, b.op.Action...)
	c = append(c, `"}`...)
	if b.op.CreatedBy != nil {
		c = append(c, `, "createdBy": {"old": null, "new": `...)
		c = append(c, b.op.CreatedBy...)
		c = append(c, '}')
	}
	if progress != nil {
		c = append(c, `, "percentProgress": {"old": null, "new": `...)
		c = strconv.AppendInt(c, int64(*progress), 10)
		c = append(c, '}')
	}
	b.add(b.op.CreatedDateTime, store.EventCreated, b.op.CreatedBy, append(c, '}'))
}

// progress records a worker's progress report.
func (b *eventBuilder) progress(at time.Time, progress int32) {
	c := []byte(`{"percentProgress": {"old": `)
	c = appendInt(c, b.op.PercentProgress)
	c = append(c, `, "new": `...)
	c = strconv.AppendInt(c, int64(progress), 10)
	c = append(c, `}}`...)
	b.op.PercentProgress = &progress
	b.add(at, store.EventUpdated, b.tenant.worker, c)
}

// finish records the move to a terminal status with its result, in one PATCH.
func (b *eventBuilder) finish(at time.Time, status store.Status, progress, code *int32, message string, subcode int32) {
	c := []byte(`{"status": {"old": "`)
	c = append(c, b.op.Status...)
	c = append(c, `", "new": "`...)
	c = append(c, status...)
	c = append(c, `"}, "completedDateTime": {"old": null, "new": `...)
	c = appendTime(c, at)
	c = append(c, '}')
	if !equalInt(progress, b.op.PercentProgress) {
		c = append(c, `, "percentProgress": {"old": `...)
		c = appendInt(c, b.op.PercentProgress)
		c = append(c, `, "new": `...)
		c = appendInt(c, progress)
		c = append(c, '}')
	}
	msg := message
	b.op.ResultCode, b.op.ResultMessage = code, &msg
	if subcode != 0 {
		b.op.ResultSubcode = &subcode
	}
	c = append(c, `, "resultInfo": {"old": null, "new": {"code": `...)
	c = appendInt(c, code)
	c = append(c, `, "message": `...)
	m, _ := json.Marshal(message) // a string always marshals
	c = append(c, m...)
	c = append(c, `, "subcode": `...)
	c = appendInt(c, b.op.ResultSubcode)
	c = append(c, `}}}`...)
	b.op.Status, b.op.PercentProgress, b.op.CompletedDateTime = status, progress, &at
	b.add(at, store.EventUpdated, b.tenant.worker, c)
}

// appendTime writes t as the history does: a JSON string, RFC 3339 in UTC with microseconds.
func appendTime(c []byte, t time.Time) []byte {
	c = append(c, '"')
	c = t.UTC().AppendFormat(c, "2006-01-02T15:04:05.000000Z")
	return append(c, '"')
}

func appendInt(c []byte, n *int32) []byte {
	if n == nil {
		return append(c, "null"...)
	}
	return strconv.AppendInt(c, int64(*n), 10)
}

func equalInt(a, b *int32) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func newUUID(rng *rand.Rand) uuid.UUID {
	var u uuid.UUID
	hi, lo := rng.Uint64(), rng.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}

// pick returns the index of the cumulative weight a uniform draw falls in.
func pick(rng *rand.Rand, cumulative []float64) int {
	x := rng.Float64()
	return min(sort.SearchFloat64s(cumulative, x), len(cumulative)-1)
}

func pickWeighted(rng *rand.Rand, n int, weight func(int) float64) int {
	x := rng.Float64()
	for i := range n {
		if x -= weight(i); x < 0 {
			return i
		}
	}
	return n - 1
}
