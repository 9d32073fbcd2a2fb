package store

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// ODataTypeTagOperation is the only caseOperation type the service creates today.
const ODataTypeTagOperation = "#microsoft.graph.tagOperation"

// Status is Graph's caseOperationStatus.
type Status string

// The caseOperationStatus members, in Graph's order.
const (
	StatusNotStarted         Status = "notStarted"
	StatusSubmissionFailed   Status = "submissionFailed"
	StatusRunning            Status = "running"
	StatusSucceeded          Status = "succeeded"
	StatusPartiallySucceeded Status = "partiallySucceeded"
	StatusFailed             Status = "failed"
)

// Statuses lists every Status in Graph's member order.
var Statuses = []Status{
	StatusNotStarted, StatusSubmissionFailed, StatusRunning,
	StatusSucceeded, StatusPartiallySucceeded, StatusFailed,
}

// Valid reports whether s is a caseOperationStatus member.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Terminal reports whether an operation in status s is finished for good.
func (s Status) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusPartiallySucceeded, StatusFailed, StatusSubmissionFailed:
		return true
	}
	return false
}

// CanBecome reports whether the status machine allows s to change to next.
func (s Status) CanBecome(next Status) bool {
	switch {
	case s == next, s == StatusNotStarted:
		return true
	case s == StatusRunning:
		return next == StatusSucceeded || next == StatusPartiallySucceeded || next == StatusFailed
	}
	return false
}

// Action is Graph's caseAction.
type Action string

// The caseAction members, in Graph's order.
const (
	ActionContentExport      Action = "contentExport"
	ActionApplyTags          Action = "applyTags"
	ActionConvertToPdf       Action = "convertToPdf"
	ActionIndex              Action = "index"
	ActionEstimateStatistics Action = "estimateStatistics"
	ActionAddToReviewSet     Action = "addToReviewSet"
	ActionHoldUpdate         Action = "holdUpdate"
	// ActionUnknownFutureValue is Graph's evolvable-enum sentinel; it is never stored.
	ActionUnknownFutureValue Action = "unknownFutureValue"
	// The members Graph added after unknownFutureValue: evolvable, sent to clients that ask for them.
	ActionPurgeData      Action = "purgeData"
	ActionExportReport   Action = "exportReport"
	ActionExportResult   Action = "exportResult"
	ActionHoldPolicySync Action = "holdPolicySync"
)

// Actions lists every storable Action in Graph's member order.
var Actions = []Action{
	ActionContentExport, ActionApplyTags, ActionConvertToPdf,
	ActionIndex, ActionEstimateStatistics, ActionAddToReviewSet, ActionHoldUpdate,
	ActionPurgeData, ActionExportReport, ActionExportResult, ActionHoldPolicySync,
}

// TagOperationActions are the caseAction members the microsoft.graph tagOperation routes take and list,
// as they did before Graph's later members were stored.
var TagOperationActions = Actions[:6:6]

// Evolvable reports whether a comes after unknownFutureValue in Graph's caseAction, so that a response
// names it only to a client that sent Prefer: include-unknown-enum-members.
func (a Action) Evolvable() bool {
	switch a {
	case ActionPurgeData, ActionExportReport, ActionExportResult, ActionHoldPolicySync:
		return true
	}
	return false
}

// Valid reports whether a is a storable caseAction member.
func (a Action) Valid() bool { return slices.Contains(Actions, a) }

// Identity is Graph's identity: who or what acted.
type Identity struct {
	ID          *string `json:"id,omitempty"`
	DisplayName *string `json:"displayName,omitempty"`
}

// IdentitySet is Graph's identitySet.
type IdentitySet struct {
	Application *Identity `json:"application,omitempty"`
	Device      *Identity `json:"device,omitempty"`
	User        *Identity `json:"user,omitempty"`
}

// ResultInfo is Graph's resultInfo.
type ResultInfo struct {
	Code    *int32
	Message *string
	Subcode *int32
}

// Operation is one caseOperation row.
type Operation struct {
	TenantID             string
	ID                   uuid.UUID
	ODataType            string
	Status               Status
	Action               Action
	PercentProgress      *int32
	CreatedDateTime      time.Time
	CompletedDateTime    *time.Time
	CreatedBy            *IdentitySet
	ResultInfo           *ResultInfo // nil when code, message and subcode are all null
	Version              int64
	LastModifiedDateTime time.Time
	CaseID               uuid.UUID // the eDiscovery case it belongs to
	Type                 string    // the microsoft.graph.security type name, legacy odata_type names mapped
	Props                TypeProps // the type's own properties; nil fields for the ones it lacks
}

// NewOperation is what a create stores; zero values take the column defaults.
type NewOperation struct {
	ID                uuid.UUID // uuid.Nil: the server makes one
	Status            Status    // "": notStarted
	Action            Action    // "": applyTags
	PercentProgress   *int32
	CompletedDateTime *time.Time // nil with a terminal status: the commit time
	CreatedBy         *IdentitySet
	ResultInfo        *ResultInfo
	CaseID            uuid.UUID // uuid.Nil: the tenant's default case
	ODataType         string    // "": TagOperationODataType
	Props             TypeProps
}

// PropsPatch is a partial update of TypeProps, one Optional per property.
type PropsPatch struct {
	Description            Optional[*string]
	DisplayName            Optional[*string]
	OutputName             Optional[*string]
	CloudAttachmentVersion Optional[*string]
	DocumentVersion        Optional[*string]
	ReportFileMetadata     Optional[*[]FileMetadata]
	ExportFileMetadata     Optional[*[]FileMetadata]
	IndexedItemCount       Optional[*int64]
	IndexedItemsSize       Optional[*int64]
	UnindexedItemCount     Optional[*int64]
	UnindexedItemsSize     Optional[*int64]
	MailboxCount           Optional[*int32]
	SiteCount              Optional[*int32]
	StatisticsOptions      Optional[*string]
	AdditionalDataOptions  Optional[*string]
	ItemsToInclude         Optional[*string]
	ExportOptions          Optional[*string]
	ExportStructure        Optional[*string]
	AdditionalOptions      Optional[*string]
	ExportCriteria         Optional[*string]
	ExportLocation         Optional[*string]
	ExportFormat           Optional[*string]
	ExportSingleItems      Optional[*bool]
}

// SecurityTypes are the nine caseOperation types of the microsoft.graph.security namespace, as
// Operation.Type names them.
var SecurityTypes = []string{"ediscoveryTagOperation", "ediscoveryIndexOperation", "ediscoveryHoldOperation",
	"ediscoveryPurgeDataOperation", "ediscoveryHoldPolicySyncOperation", "ediscoveryEstimateOperation",
	"ediscoveryAddToReviewSetOperation", "ediscoveryExportOperation", "ediscoverySearchExportOperation"}

// SecurityODataTypePrefix turns a SecurityTypes name into the @odata.type stored for it.
const SecurityODataTypePrefix = "#microsoft.graph.security."

// TagOperationODataType is the @odata.type of the tagOperation routes, and of a create that names none.
const TagOperationODataType = "#microsoft.graph.tagOperation"

// FileMetadata is Graph's reportFileMetadata and exportFileMetadata.
type FileMetadata struct {
	DownloadURL *string `json:"downloadUrl"`
	FileName    *string `json:"fileName"`
	Size        *int64  `json:"size"`
}

// TypeProps are the own properties of the caseOperation types (CONTRACT section 8), one field per JSON
// name shared across types; a field a row's type lacks is nil, which the schema enforces. Flags are
// Graph's comma-separated text in member order.
type TypeProps struct {
	Description            *string
	DisplayName            *string
	OutputName             *string
	CloudAttachmentVersion *string
	DocumentVersion        *string
	ReportFileMetadata     *[]FileMetadata
	ExportFileMetadata     *[]FileMetadata
	IndexedItemCount       *int64
	IndexedItemsSize       *int64
	UnindexedItemCount     *int64
	UnindexedItemsSize     *int64
	MailboxCount           *int32
	SiteCount              *int32
	StatisticsOptions      *string
	AdditionalDataOptions  *string
	ItemsToInclude         *string
	ExportOptions          *string
	ExportStructure        *string
	AdditionalOptions      *string
	ExportCriteria         *string
	ExportLocation         *string
	ExportFormat           *string
	ExportSingleItems      *bool
}

// Optional is one property of a partial update: absent (Set false) or a value to store.
// For a nullable property the value is a pointer, and a nil pointer clears it.
type Optional[T any] struct {
	Set   bool
	Value T
}

// Some returns a present Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }

// IdentityPatch is an RFC 7396 merge patch of an Identity.
type IdentityPatch struct {
	ID          Optional[*string]
	DisplayName Optional[*string]
}

// IdentitySetPatch is an RFC 7396 merge patch of an IdentitySet; a nil identity removes it.
type IdentitySetPatch struct {
	Application Optional[*IdentityPatch]
	Device      Optional[*IdentityPatch]
	User        Optional[*IdentityPatch]
}

// ResultInfoPatch is an RFC 7396 merge patch of a ResultInfo.
type ResultInfoPatch struct {
	Code    Optional[*int32]
	Message Optional[*string]
	Subcode Optional[*int32]
}

// Patch is a partial update of an Operation. Absent properties are left as they are.
type Patch struct {
	Status            Optional[Status]
	Action            Optional[Action]
	PercentProgress   Optional[*int32]
	CompletedDateTime Optional[*time.Time]
	CreatedBy         Optional[*IdentitySetPatch] // nil value: clear createdBy
	ResultInfo        Optional[*ResultInfoPatch]  // nil value: clear resultInfo
	Props             PropsPatch                  // a type's own properties; a nil value clears one

	// CreatedDateTime, when set, must equal the stored value (a client may send back what it read).
	CreatedDateTime *time.Time
	// IfMatch, when non-nil, lists the revisions the caller expects; any other is ErrPreconditionFailed.
	IfMatch []Revision
}

// Revision names one state of one operation. The version alone does not: an operation deleted and
// created again with the same id counts its versions from 1 again, but never has the same creation time.
type Revision struct {
	Version int64
	Created time.Time
}

// minTimeMicros is the earliest timestamptz, 4714-11-24 00:00 BC, in microseconds since 1970. Every later
// int64 count of microseconds fits one: Postgres's upper bound, in the year 294276, is beyond them.
const minTimeMicros = -210866803200000000

// TimeInRange reports whether a time in microseconds since 1970 fits a timestamptz; one that does not,
// sent as a parameter, makes Postgres refuse the statement.
func TimeInRange(micros int64) bool { return micros >= minTimeMicros }

// Revision is the operation's current revision.
func (o Operation) Revision() Revision {
	return Revision{Version: o.Version, Created: o.CreatedDateTime}
}

// revisionArrays splits revisions into the parallel arrays the SQL unnests: nil (no precondition) when
// revisions is nil.
func revisionArrays(revisions []Revision) (versions []int64, created []time.Time) {
	if revisions == nil {
		return nil, nil
	}
	versions, created = make([]int64, len(revisions)), make([]time.Time, len(revisions))
	for i, r := range revisions {
		versions[i], created[i] = r.Version, r.Created
	}
	return versions, created
}

// Audit says who makes a change and in which request, for the history.
type Audit struct {
	Actor     *IdentitySet
	RequestID string
}
