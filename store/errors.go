package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrNotFound: no such operation in the tenant.
	ErrNotFound = errors.New("operation not found")
	// ErrAlreadyExists: the tenant already has an operation with that id.
	ErrAlreadyExists = errors.New("operation already exists")
	// ErrPreconditionFailed: the operation's version is not one the caller expected.
	ErrPreconditionFailed = errors.New("operation version does not match")
	// ErrNotOwnProperty: a write set a property that the operation's type does not have.
	ErrNotOwnProperty = errors.New("a property of another caseOperation type")
	// ErrInvalidTransition: the status machine refuses the change.
	ErrInvalidTransition = errors.New("status transition not allowed")
	// ErrUnavailable: the database cannot be reached or is shutting down; retrying later may succeed.
	ErrUnavailable = errors.New("database unavailable")
	// ErrNoDatabase: the server has no database of the name the URL gives.
	ErrNoDatabase = errors.New("database does not exist")
	// ErrRepeatMismatch: a repeatable create reuses the request id of an earlier one that asked for something else.
	ErrRepeatMismatch = errors.New("repeatable request id already used for another request")
	// ErrOutcomeUnknown: the database stopped answering after a write was sent, so it may or may not have
	// been applied. It comes wrapped with ErrUnavailable.
	ErrOutcomeUnknown = errors.New("the write may or may not have been applied")
)

// TransitionError is a status change the status machine refuses; it is an ErrInvalidTransition.
type TransitionError struct {
	From, To Status
}

func (e *TransitionError) Error() string {
	return "status cannot change from " + string(e.From) + " to " + string(e.To)
}

func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// InvalidError is a value the schema refuses, named by its Graph property path.
type InvalidError struct {
	Target  string
	Message string
}

func (e *InvalidError) Error() string { return e.Target + ": " + e.Message }

// constraintErrors turns a refusal by a named constraint into what a client can act on.
var constraintErrors = map[string]error{
	"case_operations_status_transition":   ErrInvalidTransition,
	"case_operations_pkey":                ErrAlreadyExists,
	"case_operations_case_fkey":           ErrCaseNotFound,
	"case_operations_own_properties_only": ErrNotOwnProperty,
	"ediscovery_cases_pkey":               ErrCaseAlreadyExists,
	"ediscovery_cases_display_name_length": &InvalidError{"displayName",
		"displayName must be from 1 to 256 characters."},
	"case_operations_completed_when_terminal": &InvalidError{"completedDateTime",
		"completedDateTime is set exactly when the status is terminal (succeeded, partiallySucceeded, failed or submissionFailed); it cannot be set while the status is not terminal, nor cleared once it is."},
	"case_operations_completed_after_created": &InvalidError{"completedDateTime",
		"completedDateTime cannot be before createdDateTime."},
	"case_operations_percent_progress_range": &InvalidError{"percentProgress",
		"percentProgress must be an integer from 0 to 100."},
	"case_operations_result_message_length": &InvalidError{"resultInfo/message",
		"resultInfo/message is at most 4096 characters."},
	"case_operations_created_by_valid": &InvalidError{"createdBy",
		"createdBy must be an identitySet whose identities have string id and displayName of at most 1024 characters."},
}

// mapError translates a pgx error, once, into the store's own errors.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if mapped, ok := constraintErrors[pgErr.ConstraintName]; ok {
			return mapped
		}
		if pgErr.Code == pgerrcode.InvalidCatalogName {
			return fmt.Errorf("%w: %s", ErrNoDatabase, pgErr.Message)
		}
		if unavailableCode(pgErr.Code) {
			return fmt.Errorf("%w: %s (SQLSTATE %s)", ErrUnavailable, pgErr.Message, pgErr.Code) // for the log
		}
		return fmt.Errorf("postgres %s: %w", pgErr.Code, err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var backoff *backoffError
	if errors.As(err, &backoff) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || isConnectionError(err) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// unavailableCode reports SQLSTATEs that mean "try again later", not "your request is wrong".
func unavailableCode(code string) bool {
	switch {
	case pgerrcode.IsConnectionException(code),
		pgerrcode.IsInsufficientResources(code),
		pgerrcode.IsOperatorIntervention(code), // admin shutdown, crash shutdown, cannot connect now
		code == pgerrcode.SerializationFailure,
		code == pgerrcode.DeadlockDetected,
		code == pgerrcode.ReadOnlySQLTransaction, // a replica that was promoted away from us
		code == pgerrcode.LockNotAvailable:
		return true
	}
	return false
}

func isConnectionError(err error) bool {
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connectErr) || pgconn.SafeToRetry(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "closed pool") || strings.Contains(msg, "conn closed") ||
		strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "connection reset")
}
