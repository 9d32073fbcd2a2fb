package handlers

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/caseops/caseops/store"
)

// The own properties of the caseOperation types (CONTRACT section 8), as the security paths read and write
// them. Each lives in a field of store.TypeProps (and store.PropsPatch) named as its JSON name with a capital,
// and in a column of case_operations that the schema checks again.

type ownKind int

const (
	ownInt64 ownKind = iota + 1
	ownInt32
	ownString
	ownBool
	ownEnum     // one of members; those from evolvableFrom on follow unknownFutureValue
	ownFlags    // a comma-separated list of flags.members
	ownMetadata // a list of reportFileMetadata or exportFileMetadata
)

type ownProperty struct {
	name         string
	kind         ownKind
	enum         evolvableEnum // ownEnum and ownFlags: the members
	metadataType string        // ownMetadata: its @odata.type
	types        []string      // the types that have it
}

const (
	estimate       = "ediscoveryEstimateOperation"
	addToReviewSet = "ediscoveryAddToReviewSetOperation"
	export         = "ediscoveryExportOperation"
	searchExport   = "ediscoverySearchExportOperation"
	holdPolicySync = "ediscoveryHoldPolicySyncOperation"
)

// maxOwnStringChars bounds the free text of an operation's own properties, as resultInfo/message is bounded.
const maxOwnStringChars = 4096

var ownProperties = []ownProperty{
	{name: "indexedItemCount", kind: ownInt64, types: []string{estimate}},
	{name: "indexedItemsSize", kind: ownInt64, types: []string{estimate}},
	{name: "unindexedItemCount", kind: ownInt64, types: []string{estimate}},
	{name: "unindexedItemsSize", kind: ownInt64, types: []string{estimate}},
	{name: "mailboxCount", kind: ownInt32, types: []string{estimate}},
	{name: "siteCount", kind: ownInt32, types: []string{estimate}},
	{name: "statisticsOptions", kind: ownFlags, enum: statisticsOptionsEnum, types: []string{estimate}},
	{name: "additionalDataOptions", kind: ownFlags, enum: additionalDataOptionsEnum, types: []string{addToReviewSet}},
	{name: "itemsToInclude", kind: ownFlags, enum: itemsToIncludeEnum, types: []string{addToReviewSet}},
	{name: "cloudAttachmentVersion", kind: ownEnum, enum: versionEnum, types: []string{addToReviewSet, searchExport}},
	{name: "documentVersion", kind: ownEnum, enum: versionEnum, types: []string{addToReviewSet, searchExport}},
	{name: "displayName", kind: ownString, types: []string{searchExport}},
	{name: "description", kind: ownString, types: []string{export, searchExport}},
	{name: "outputName", kind: ownString, types: []string{export}},
	{name: "exportOptions", kind: ownFlags, enum: exportOptionsEnum, types: []string{export}},
	{name: "exportStructure", kind: ownEnum, enum: exportStructureEnum, types: []string{export}},
	{name: "additionalOptions", kind: ownFlags, enum: additionalOptionsEnum, types: []string{searchExport}},
	{name: "exportCriteria", kind: ownFlags, enum: exportCriteriaEnum, types: []string{searchExport}},
	{name: "exportLocation", kind: ownFlags, enum: exportLocationEnum, types: []string{searchExport}},
	{name: "exportFormat", kind: ownEnum, enum: exportFormatEnum, types: []string{searchExport}},
	{name: "exportSingleItems", kind: ownBool, types: []string{searchExport}},
	{name: "reportFileMetadata", kind: ownMetadata, metadataType: "microsoft.graph.security.reportFileMetadata",
		types: []string{estimate, addToReviewSet, holdPolicySync}},
	{name: "exportFileMetadata", kind: ownMetadata, metadataType: "microsoft.graph.security.exportFileMetadata",
		types: []string{export, searchExport}},
}

// ownPropertyNames are every type's own property names, for "did you mean".
var ownPropertyNames = func() []string {
	names := make([]string, len(ownProperties))
	for i, p := range ownProperties {
		names[i] = p.name
	}
	return names
}()

func ownPropertyNamed(name string) *ownProperty {
	for i := range ownProperties {
		if ownProperties[i].name == name {
			return &ownProperties[i]
		}
	}
	return nil
}

// ownPropertiesOf lists the own properties of one type, in ownProperties' order.
func ownPropertiesOf(typ string) []*ownProperty {
	var out []*ownProperty
	for i := range ownProperties {
		if slices.Contains(ownProperties[i].types, typ) {
			out = append(out, &ownProperties[i])
		}
	}
	return out
}

func fieldName(json string) string { return strings.ToUpper(json[:1]) + json[1:] }

// parseOwnProperties reads the own properties a body gives. On a create typ is the type being made, and a
// property of another type is refused here; on a PATCH typ is "" (the statement does not read the row first),
// and the schema refuses one the operation's type lacks (case_operations_own_properties_only).
func parseOwnProperties(obj *object, typ string, mode bodyMode, errs *problems) (store.TypeProps, store.PropsPatch) {
	var props store.TypeProps
	var patch store.PropsPatch
	pv, pp := reflect.ValueOf(&props).Elem(), reflect.ValueOf(&patch).Elem()
	for _, key := range obj.keys {
		p := ownPropertyNamed(key)
		if p == nil {
			continue
		}
		if typ != "" && !slices.Contains(p.types, typ) {
			errs.invalid(key, key+" is not a property of "+typ+"; it is one of "+strings.Join(p.types, " and ")+".")
			continue
		}
		v, ok := p.parse(errs, obj.values[key])
		if !ok {
			continue
		}
		if mode == modeCreate {
			if !v.IsNil() {
				pv.FieldByName(fieldName(key)).Set(v)
			}
			continue
		}
		opt := pp.FieldByName(fieldName(key))
		opt.FieldByName("Set").SetBool(true)
		opt.FieldByName("Value").Set(v)
	}
	return props, patch
}

// parse reads one value: a pointer of the field's type, nil for null.
func (p *ownProperty) parse(errs *problems, v any) (reflect.Value, bool) {
	key := p.name
	null := func(t reflect.Type) (reflect.Value, bool) { return reflect.Zero(t), true }
	switch p.kind {
	case ownInt64, ownInt32:
		bits, t := 64, reflect.TypeFor[*int64]()
		if p.kind == ownInt32 {
			bits, t = 32, reflect.TypeFor[*int32]()
		}
		if v == nil {
			return null(t)
		}
		n, isNumber := v.(json.Number)
		i, err := strconv.ParseInt(n.String(), 10, bits)
		if !isNumber || err != nil || i < 0 {
			errs.invalid(key, key+" must be a whole number from 0 to "+strconv.FormatInt(1<<(bits-1)-1, 10)+", or null.")
			return reflect.Value{}, false
		}
		if bits == 32 {
			x := int32(i)
			return reflect.ValueOf(&x), true
		}
		return reflect.ValueOf(&i), true
	case ownString:
		s, ok := parseString(errs, key, v, maxOwnStringChars)
		return reflect.ValueOf(s), ok
	case ownBool:
		if v == nil {
			return null(reflect.TypeFor[*bool]())
		}
		b, ok := v.(bool)
		if !ok {
			errs.invalid(key, key+" must be true, false or null.")
			return reflect.Value{}, false
		}
		return reflect.ValueOf(&b), true
	case ownEnum:
		if v == nil {
			return null(reflect.TypeFor[*string]())
		}
		s, ok := v.(string)
		if !ok || !slices.Contains(p.enum.members, s) {
			errs.invalid(key, notAMember(key, v, p.enum.members))
			return reflect.Value{}, false
		}
		return reflect.ValueOf(&s), true
	case ownFlags:
		if v == nil {
			return null(reflect.TypeFor[*string]())
		}
		s, ok := v.(string)
		if !ok {
			errs.invalid(key, key+" must be a string of comma-separated members of "+strings.Join(p.enum.members, ", ")+", or null.")
			return reflect.Value{}, false
		}
		seen := map[string]bool{}
		for _, m := range strings.Split(s, ",") {
			m = strings.TrimSpace(m)
			if !slices.Contains(p.enum.members, m) {
				errs.invalid(key, key+" holds "+quote(clip(m))+", which is none of "+strings.Join(p.enum.members, ", ")+
					"; give one or more of them separated by commas, or null.")
				return reflect.Value{}, false
			}
			seen[m] = true
		}
		var normal []string // member order, each once, as the schema stores it
		for _, m := range p.enum.members {
			if seen[m] {
				normal = append(normal, m)
			}
		}
		joined := strings.Join(normal, ",")
		return reflect.ValueOf(&joined), true
	case ownMetadata:
		if v == nil {
			return null(reflect.TypeFor[*[]store.FileMetadata]())
		}
		list, ok := v.([]any)
		if !ok {
			errs.invalid(key, key+" must be a list of "+p.metadataType+" objects, or null.")
			return reflect.Value{}, false
		}
		files := make([]store.FileMetadata, 0, len(list))
		for i, item := range list {
			target := key + "/" + strconv.Itoa(i)
			o, ok := item.(*object)
			if !ok {
				errs.invalid(target, target+" must be a "+p.metadataType+" object.")
				return reflect.Value{}, false
			}
			var f store.FileMetadata
			for _, k := range o.keys {
				path := target + "/" + k
				switch k {
				case "@odata.type":
					checkODataType(errs, path, o.values[k], p.metadataType)
				case "downloadUrl", "fileName":
					s, ok := parseString(errs, path, o.values[k], maxOwnStringChars)
					if !ok {
						return reflect.Value{}, false
					}
					if k == "downloadUrl" {
						f.DownloadURL = s
					} else {
						f.FileName = s
					}
				case "size":
					if o.values[k] == nil {
						continue
					}
					n, isNumber := o.values[k].(json.Number)
					size, err := strconv.ParseInt(n.String(), 10, 64)
					if !isNumber || err != nil || size < 0 {
						errs.invalid(path, path+" must be a whole number of bytes, 0 or more, or null.")
						return reflect.Value{}, false
					}
					f.Size = &size
				default:
					if !isIgnoredAnnotation(k) {
						errs.unknown(path, p.metadataType, k, []string{"downloadUrl", "fileName", "size"})
						return reflect.Value{}, false
					}
				}
			}
			files = append(files, f)
		}
		return reflect.ValueOf(&files), true
	}
	return reflect.Value{}, false
}

// metadataJSON is reportFileMetadata and exportFileMetadata as Graph sends them.
type metadataJSON struct {
	Type        string  `json:"@odata.type"`
	DownloadURL *string `json:"downloadUrl"`
	FileName    *string `json:"fileName"`
	Size        *int64  `json:"size"`
}

// appendOwnProperties adds op's own properties, every one its type has (null when unset) or those of them
// that fields selects when it is not nil, to the JSON object b ends with, with the evolvable-enum rule of
// section 9 unless includeUnknown.
func appendOwnProperties(b []byte, op store.Operation, fields []string, includeUnknown bool) []byte {
	own := ownPropertiesOf(op.Type)
	if len(own) == 0 || len(b) < 2 || b[len(b)-1] != '}' {
		return b
	}
	b = b[:len(b)-1]
	props := reflect.ValueOf(op.Props)
	for _, p := range own {
		if fields != nil && !slices.Contains(fields, p.name) {
			continue
		}
		field := props.FieldByName(fieldName(p.name))
		var value any
		if !field.IsNil() {
			switch p.kind {
			case ownEnum, ownFlags:
				value = p.enum.render(field.Elem().String(), includeUnknown)
			case ownMetadata:
				files := field.Elem().Interface().([]store.FileMetadata)
				out := make([]metadataJSON, len(files))
				for i, f := range files {
					out[i] = metadataJSON{Type: "#" + p.metadataType, DownloadURL: f.DownloadURL, FileName: f.FileName, Size: f.Size}
				}
				value = out
			default:
				value = field.Interface()
			}
		}
		encoded, _ := json.Marshal(value) // strings, numbers, booleans and these structs always marshal
		b = append(b, ',')
		b = strconv.AppendQuote(b, p.name)
		b = append(b, ':')
		b = append(b, encoded...)
	}
	return append(b, '}')
}

// notOwnProperties answers a PATCH the schema refused for setting a property the operation's type lacks: it
// names every own property the body set, since the statement does not say which one it was.
func notOwnProperties(obj *object) error {
	var errs problems
	for _, key := range obj.keys {
		if p := ownPropertyNamed(key); p != nil && obj.values[key] != nil {
			errs.invalid(key, key+" is a property of "+strings.Join(p.types, " and ")+" only; this operation's type may not have it.")
		}
	}
	return errs.error()
}
