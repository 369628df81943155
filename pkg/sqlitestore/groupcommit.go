package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Group commit. With synchronous(FULL) every commit waits for an fsync of the
// WAL, and the single writer connection serialises commits, so one write per
// fsync caps the embedded store at a few hundred writes per second on a disk
// that syncs in a few milliseconds. Writes that arrive while another commit is
// in progress therefore queue, and the next writer applies all of them in one
// transaction: each request's statements inside its own SAVEPOINT, so a
// request that fails is rolled back to its savepoint and leaves the others'
// writes in place (https://www.sqlite.org/lang_savepoint.html). After the one
// COMMIT (and its one fsync) every request of the batch gets its answer.
// Durability is that of a transaction per request: no request is answered
// before the commit that holds its writes is on disk.
//
// There is no background goroutine: the first writer to find the committer
// idle leads one batch, then hands the lead to the oldest request still
// queued, which leads the next batch (with itself in it). A leader therefore
// never commits for others after its own answer is known for more than the
// batch it led.

// maxBatch bounds how many requests one transaction holds, so that a request
// waits for at most one long batch before its own.
const maxBatch = 128

// writeRequest is one call of Store.write waiting for its batch.
type writeRequest struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error    // the request's result, sent exactly once
	lead chan struct{} // sent when this request is to lead the next batch
}

// groupCommitter queues writes for the single writer connection.
type groupCommitter struct {
	mu     sync.Mutex
	queue  []*writeRequest
	active bool // a leader is applying a batch, or the lead is being handed on
	// oneTransactionPerWrite turns group commit off (the benchmark's baseline).
	oneTransactionPerWrite bool
}

// write runs fn in a write transaction, possibly shared with other requests
// queued at the same time, and returns fn's error, or the commit's. It
// returns only once the outcome is final: committed to disk, or nothing of fn
// applied.
func (g *groupCommitter) write(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	if g.oneTransactionPerWrite {
		return writeAlone(ctx, db, fn)
	}
	req := &writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, req)
	leader := !g.active
	g.active = true
	g.mu.Unlock()
	if leader {
		g.leadBatch(db)
		return <-req.done
	}
	// A queued request is not abandoned when its context ends: the batch
	// that holds it checks the context before running it, and the caller
	// must learn whether it was applied.
	select {
	case err := <-req.done:
		return err
	case <-req.lead:
		g.leadBatch(db)
		return <-req.done
	}
}

// leadBatch applies the requests queued now (up to maxBatch) and hands the
// lead to the next queued request, if any.
func (g *groupCommitter) leadBatch(db *sql.DB) {
	g.mu.Lock()
	n := min(len(g.queue), maxBatch)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	applyBatch(db, batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].lead <- struct{}{}
	} else {
		g.active = false
	}
	g.mu.Unlock()
}

// applyBatch answers every request of batch.
func applyBatch(db *sql.DB, batch []*writeRequest) {
	live := batch[:0:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.done <- fmt.Errorf("begin write transaction: %w", err)
			continue
		}
		live = append(live, req)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		live[0].done <- writeAlone(live[0].ctx, db, live[0].fn)
		return
	}
	committed, rerun := applyShared(db, live)
	for _, req := range committed {
		req.done <- nil
	}
	// The shared transaction was lost (an interrupted statement, a full
	// disk: SQLite then rolls back the whole transaction) before its commit:
	// nothing of it is applied, so each of these runs again on its own. fn
	// then runs a second time on a fresh read of the state; its first run
	// left nothing behind.
	for _, req := range rerun {
		req.done <- writeAlone(req.ctx, db, req.fn)
	}
}

// applyShared runs the requests in one transaction, each in its own
// savepoint, and commits. Requests that fail cleanly get their error at once;
// it returns those whose writes the commit made durable, and those to run
// again because the transaction as a whole failed.
func applyShared(db *sql.DB, reqs []*writeRequest) (committed, rerun []*writeRequest) {
	// The transaction belongs to no single request: one caller's cancelled
	// context must not roll back the others' writes.
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		err = fmt.Errorf("begin write transaction: %w", err)
		for _, req := range reqs {
			req.done <- err
		}
		return nil, nil
	}
	for i, req := range reqs {
		if err := runInSavepoint(tx, req); err != nil {
			var lost transactionLostError
			if errors.As(err, &lost) {
				tx.Rollback()
				// The request whose statement ended the transaction gets
				// its own error; everything else of the batch runs again.
				req.done <- lost.cause
				return nil, append(committed, reqs[i+1:]...)
			}
			req.done <- err
			continue
		}
		committed = append(committed, req)
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", err)
		for _, req := range committed {
			req.done <- err
		}
		return nil, nil
	}
	return committed, nil
}

// transactionLostError says that a request's failure also ended the shared
// transaction, so that its savepoint could not be rolled back.
type transactionLostError struct{ cause error }

func (e transactionLostError) Error() string { return e.cause.Error() }

// runInSavepoint runs req.fn between SAVEPOINT and RELEASE; on failure it
// rolls back to the savepoint, undoing only this request's writes.
func runInSavepoint(tx *sql.Tx, req *writeRequest) error {
	// Savepoints are executed with the transaction's context, not the
	// request's: only fn's own statements can be interrupted by it.
	ctx := context.Background()
	if _, err := tx.ExecContext(ctx, `SAVEPOINT request`); err != nil {
		return transactionLostError{fmt.Errorf("begin write transaction: %w", err)}
	}
	fnErr := req.fn(tx)
	if fnErr == nil {
		if _, err := tx.ExecContext(ctx, `RELEASE request`); err != nil {
			return transactionLostError{fmt.Errorf("commit: %w", err)}
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, `ROLLBACK TO request`); err != nil {
		return transactionLostError{fnErr}
	}
	if _, err := tx.ExecContext(ctx, `RELEASE request`); err != nil {
		return transactionLostError{fnErr}
	}
	return fnErr
}

// writeAlone runs fn in a transaction of its own (BEGIN IMMEDIATE) and
// commits only if fn succeeds, so every method applies completely or not at
// all.
func writeAlone(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
