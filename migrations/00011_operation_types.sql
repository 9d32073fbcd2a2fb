-- +goose Up
-- Every caseOperation type of the microsoft.graph.security namespace lives in case_operations, beside the
-- legacy microsoft.graph names rows were created with. odata_type keeps the name given at create;
-- operation_type is the security type name of every row, so analysts and filters need one spelling.

-- caseAction's later members, after Graph's own order (unknownFutureValue is never stored).
ALTER TYPE case_action ADD VALUE 'holdUpdate';
ALTER TYPE case_action ADD VALUE 'purgeData';
ALTER TYPE case_action ADD VALUE 'exportReport';
ALTER TYPE case_action ADD VALUE 'exportResult';
ALTER TYPE case_action ADD VALUE 'holdPolicySync';

-- +goose StatementBegin
-- The security type name of an @odata.type value, legacy microsoft.graph names mapped; NULL for an unknown name.
CREATE FUNCTION case_operation_type_of(odata_type text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE odata_type
    WHEN '#microsoft.graph.tagOperation' THEN 'ediscoveryTagOperation'
    WHEN '#microsoft.graph.caseExportOperation' THEN 'ediscoveryExportOperation'
    WHEN '#microsoft.graph.caseHoldOperation' THEN 'ediscoveryHoldOperation'
    WHEN '#microsoft.graph.caseIndexOperation' THEN 'ediscoveryIndexOperation'
    WHEN '#microsoft.graph.addToReviewSetOperation' THEN 'ediscoveryAddToReviewSetOperation'
    WHEN '#microsoft.graph.estimateStatisticsOperation' THEN 'ediscoveryEstimateOperation'
    WHEN '#microsoft.graph.purgeDataOperation' THEN 'ediscoveryPurgeDataOperation'
    WHEN '#microsoft.graph.security.ediscoveryTagOperation' THEN 'ediscoveryTagOperation'
    WHEN '#microsoft.graph.security.ediscoveryIndexOperation' THEN 'ediscoveryIndexOperation'
    WHEN '#microsoft.graph.security.ediscoveryHoldOperation' THEN 'ediscoveryHoldOperation'
    WHEN '#microsoft.graph.security.ediscoveryPurgeDataOperation' THEN 'ediscoveryPurgeDataOperation'
    WHEN '#microsoft.graph.security.ediscoveryHoldPolicySyncOperation' THEN 'ediscoveryHoldPolicySyncOperation'
    WHEN '#microsoft.graph.security.ediscoveryEstimateOperation' THEN 'ediscoveryEstimateOperation'
    WHEN '#microsoft.graph.security.ediscoveryAddToReviewSetOperation' THEN 'ediscoveryAddToReviewSetOperation'
    WHEN '#microsoft.graph.security.ediscoveryExportOperation' THEN 'ediscoveryExportOperation'
    WHEN '#microsoft.graph.security.ediscoverySearchExportOperation' THEN 'ediscoverySearchExportOperation'
END;
-- +goose StatementEnd

-- +goose StatementBegin
-- A flags value as Graph sends it: members of the list, comma-separated, in member order, each once.
CREATE FUNCTION case_operation_flags_are_valid(flags text, members text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN flags IS NULL OR flags IS NOT DISTINCT FROM (
    SELECT string_agg(m, ',' ORDER BY ord) FROM unnest(members) WITH ORDINALITY AS u(m, ord)
    WHERE m = ANY (string_to_array(flags, ',')));
-- +goose StatementEnd

-- +goose StatementBegin
-- reportFileMetadata and exportFileMetadata: an array of {downloadUrl, fileName, size}, each member optional.
CREATE FUNCTION case_operation_file_metadata_is_valid(metadata jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN metadata IS NULL OR (jsonb_typeof(metadata) = 'array' AND NOT EXISTS (
    SELECT FROM jsonb_array_elements(metadata) AS e(item)
    WHERE jsonb_typeof(item) <> 'object'
       OR EXISTS (SELECT FROM jsonb_object_keys(item) AS k(key) WHERE key NOT IN ('downloadUrl', 'fileName', 'size'))
       OR coalesce(jsonb_typeof(item -> 'downloadUrl'), 'null') NOT IN ('string', 'null')
       OR coalesce(jsonb_typeof(item -> 'fileName'), 'null') NOT IN ('string', 'null')
       OR (item ? 'size' AND jsonb_typeof(item -> 'size') <> 'null' AND (jsonb_typeof(item -> 'size') <> 'number'
           OR (item ->> 'size')::numeric < 0 OR (item ->> 'size')::numeric <> trunc((item ->> 'size')::numeric)))));
-- +goose StatementEnd

-- The history function takes the row type, which Postgres will not alter under a function's standard SQL body.
DROP FUNCTION case_operation_changes(case_operations, case_operations);

ALTER TABLE case_operations DROP CONSTRAINT case_operations_odata_type_known;
ALTER TABLE case_operations ADD CONSTRAINT case_operations_odata_type_known
    CHECK (case_operation_type_of(odata_type) IS NOT NULL);

ALTER TABLE case_operations
    ADD COLUMN operation_type text GENERATED ALWAYS AS (case_operation_type_of(odata_type)) STORED,
    ADD COLUMN description text,
    ADD COLUMN display_name text,
    ADD COLUMN output_name text,
    ADD COLUMN cloud_attachment_version text
        CONSTRAINT case_operations_cloud_attachment_version_known
        CHECK (cloud_attachment_version IN ('latest', 'recent10', 'recent100', 'all')),
    ADD COLUMN document_version text
        CONSTRAINT case_operations_document_version_known
        CHECK (document_version IN ('latest', 'recent10', 'recent100', 'all')),
    ADD COLUMN report_file_metadata jsonb
        CONSTRAINT case_operations_report_file_metadata_valid
        CHECK (case_operation_file_metadata_is_valid(report_file_metadata)),
    ADD COLUMN export_file_metadata jsonb
        CONSTRAINT case_operations_export_file_metadata_valid
        CHECK (case_operation_file_metadata_is_valid(export_file_metadata)),
    ADD COLUMN indexed_item_count bigint
        CONSTRAINT case_operations_indexed_item_count_nonnegative CHECK (indexed_item_count >= 0),
    ADD COLUMN indexed_items_size bigint
        CONSTRAINT case_operations_indexed_items_size_nonnegative CHECK (indexed_items_size >= 0),
    ADD COLUMN unindexed_item_count bigint
        CONSTRAINT case_operations_unindexed_item_count_nonnegative CHECK (unindexed_item_count >= 0),
    ADD COLUMN unindexed_items_size bigint
        CONSTRAINT case_operations_unindexed_items_size_nonnegative CHECK (unindexed_items_size >= 0),
    ADD COLUMN mailbox_count integer
        CONSTRAINT case_operations_mailbox_count_nonnegative CHECK (mailbox_count >= 0),
    ADD COLUMN site_count integer
        CONSTRAINT case_operations_site_count_nonnegative CHECK (site_count >= 0),
    ADD COLUMN statistics_options text
        CONSTRAINT case_operations_statistics_options_valid CHECK (case_operation_flags_are_valid(statistics_options,
            '{includeRefiners,includeQueryStats,includeUnindexedStats,advancedIndexing,locationsWithoutHits}')),
    ADD COLUMN additional_data_options text
        CONSTRAINT case_operations_additional_data_options_valid CHECK (case_operation_flags_are_valid(additional_data_options,
            '{allVersions,linkedFiles,advancedIndexing,listAttachments,htmlTranscripts,messageConversationExpansion,locationsWithoutHits,allItemsInFolder}')),
    ADD COLUMN items_to_include text
        CONSTRAINT case_operations_items_to_include_valid CHECK (case_operation_flags_are_valid(items_to_include,
            '{searchHits,partiallyIndexed}')),
    ADD COLUMN export_options text
        CONSTRAINT case_operations_export_options_valid CHECK (case_operation_flags_are_valid(export_options,
            '{originalFiles,text,pdfReplacement,tags,splitSource,includeFolderAndPath,friendlyName,condensePaths}')),
    ADD COLUMN export_structure text
        CONSTRAINT case_operations_export_structure_known CHECK (export_structure IN ('none', 'directory', 'pst', 'msg')),
    ADD COLUMN additional_options text
        CONSTRAINT case_operations_additional_options_valid CHECK (case_operation_flags_are_valid(additional_options,
            '{none,teamsAndYammerConversations,cloudAttachments,allDocumentVersions,subfolderContents,listAttachments,htmlTranscripts,advancedIndexing,allItemsInFolder,includeFolderAndPath,condensePaths,friendlyName,splitSource,includeReport}')),
    ADD COLUMN export_criteria text
        CONSTRAINT case_operations_export_criteria_valid CHECK (case_operation_flags_are_valid(export_criteria,
            '{searchHits,partiallyIndexed}')),
    ADD COLUMN export_location text
        CONSTRAINT case_operations_export_location_valid CHECK (case_operation_flags_are_valid(export_location,
            '{responsiveLocations,nonresponsiveLocations}')),
    ADD COLUMN export_format text
        CONSTRAINT case_operations_export_format_known CHECK (export_format IN ('pst', 'msg', 'eml')),
    ADD COLUMN export_single_items boolean,
    -- A type's own properties only: every other type's columns stay NULL.
    ADD CONSTRAINT case_operations_own_properties_only CHECK (
        CASE case_operation_type_of(odata_type)
        WHEN 'ediscoveryHoldPolicySyncOperation' THEN num_nonnulls(
            description, display_name, output_name, cloud_attachment_version, document_version, export_file_metadata,
            indexed_item_count, indexed_items_size, unindexed_item_count, unindexed_items_size, mailbox_count, site_count,
            statistics_options, additional_data_options, items_to_include, export_options, export_structure,
            additional_options, export_criteria, export_location, export_format, export_single_items) = 0
        WHEN 'ediscoveryEstimateOperation' THEN num_nonnulls(
            description, display_name, output_name, cloud_attachment_version, document_version, export_file_metadata,
            additional_data_options, items_to_include, export_options, export_structure,
            additional_options, export_criteria, export_location, export_format, export_single_items) = 0
        WHEN 'ediscoveryAddToReviewSetOperation' THEN num_nonnulls(
            description, display_name, output_name, export_file_metadata,
            indexed_item_count, indexed_items_size, unindexed_item_count, unindexed_items_size, mailbox_count, site_count,
            statistics_options, export_options, export_structure,
            additional_options, export_criteria, export_location, export_format, export_single_items) = 0
        WHEN 'ediscoveryExportOperation' THEN num_nonnulls(
            display_name, cloud_attachment_version, document_version, report_file_metadata,
            indexed_item_count, indexed_items_size, unindexed_item_count, unindexed_items_size, mailbox_count, site_count,
            statistics_options, additional_data_options, items_to_include,
            additional_options, export_criteria, export_location, export_format, export_single_items) = 0
        WHEN 'ediscoverySearchExportOperation' THEN num_nonnulls(
            output_name, report_file_metadata,
            indexed_item_count, indexed_items_size, unindexed_item_count, unindexed_items_size, mailbox_count, site_count,
            statistics_options, additional_data_options, items_to_include, export_options, export_structure) = 0
        ELSE num_nonnulls(
            description, display_name, output_name, cloud_attachment_version, document_version, report_file_metadata,
            export_file_metadata, indexed_item_count, indexed_items_size, unindexed_item_count, unindexed_items_size,
            mailbox_count, site_count, statistics_options, additional_data_options, items_to_include, export_options,
            export_structure, additional_options, export_criteria, export_location, export_format,
            export_single_items) = 0
        END);

COMMENT ON COLUMN case_operations.operation_type IS
    'The microsoft.graph.security caseOperation type of the row (ediscoveryTagOperation, ...), legacy odata_type names mapped.';

-- +goose StatementBegin
-- History records a type's own properties like the caseOperation ones: {"<Graph name>": {"old", "new"}}.
CREATE FUNCTION case_operation_changes(o case_operations, n case_operations) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN o.created_date_time IS DISTINCT FROM n.created_date_time
        THEN jsonb_build_object('createdDateTime', jsonb_build_object(
            'old', case_operation_json_time(o.created_date_time), 'new', case_operation_json_time(n.created_date_time)))
        ELSE '{}'::jsonb END
    || CASE WHEN o.completed_date_time IS DISTINCT FROM n.completed_date_time
        THEN jsonb_build_object('completedDateTime', jsonb_build_object(
            'old', case_operation_json_time(o.completed_date_time), 'new', case_operation_json_time(n.completed_date_time)))
        ELSE '{}'::jsonb END
    || CASE WHEN o.percent_progress IS DISTINCT FROM n.percent_progress
        THEN jsonb_build_object('percentProgress', jsonb_build_object('old', o.percent_progress, 'new', n.percent_progress))
        ELSE '{}'::jsonb END
    || CASE WHEN o.status IS DISTINCT FROM n.status
        THEN jsonb_build_object('status', jsonb_build_object('old', o.status, 'new', n.status))
        ELSE '{}'::jsonb END
    || CASE WHEN o.action IS DISTINCT FROM n.action
        THEN jsonb_build_object('action', jsonb_build_object('old', o.action, 'new', n.action))
        ELSE '{}'::jsonb END
    || CASE WHEN o.created_by IS DISTINCT FROM n.created_by
        THEN jsonb_build_object('createdBy', jsonb_build_object('old', o.created_by, 'new', n.created_by))
        ELSE '{}'::jsonb END
    || CASE WHEN (o.result_code, o.result_message, o.result_subcode) IS DISTINCT FROM (n.result_code, n.result_message, n.result_subcode)
        THEN jsonb_build_object('resultInfo', jsonb_build_object(
            'old', case_operation_result_info(o.result_code, o.result_message, o.result_subcode),
            'new', case_operation_result_info(n.result_code, n.result_message, n.result_subcode)))
        ELSE '{}'::jsonb END
    || CASE WHEN o.description IS DISTINCT FROM n.description
        THEN jsonb_build_object('description', jsonb_build_object('old', o.description, 'new', n.description))
        ELSE '{}'::jsonb END
    || CASE WHEN o.display_name IS DISTINCT FROM n.display_name
        THEN jsonb_build_object('displayName', jsonb_build_object('old', o.display_name, 'new', n.display_name))
        ELSE '{}'::jsonb END
    || CASE WHEN o.output_name IS DISTINCT FROM n.output_name
        THEN jsonb_build_object('outputName', jsonb_build_object('old', o.output_name, 'new', n.output_name))
        ELSE '{}'::jsonb END
    || CASE WHEN o.cloud_attachment_version IS DISTINCT FROM n.cloud_attachment_version
        THEN jsonb_build_object('cloudAttachmentVersion', jsonb_build_object('old', o.cloud_attachment_version, 'new', n.cloud_attachment_version))
        ELSE '{}'::jsonb END
    || CASE WHEN o.document_version IS DISTINCT FROM n.document_version
        THEN jsonb_build_object('documentVersion', jsonb_build_object('old', o.document_version, 'new', n.document_version))
        ELSE '{}'::jsonb END
    || CASE WHEN o.report_file_metadata IS DISTINCT FROM n.report_file_metadata
        THEN jsonb_build_object('reportFileMetadata', jsonb_build_object('old', o.report_file_metadata, 'new', n.report_file_metadata))
        ELSE '{}'::jsonb END
    || CASE WHEN o.export_file_metadata IS DISTINCT FROM n.export_file_metadata
        THEN jsonb_build_object('exportFileMetadata', jsonb_build_object('old', o.export_file_metadata, 'new', n.export_file_metadata))
        ELSE '{}'::jsonb END
    || CASE WHEN o.indexed_item_count IS DISTINCT FROM n.indexed_item_count
        THEN jsonb_build_object('indexedItemCount', jsonb_build_object('old', o.indexed_item_count, 'new', n.indexed_item_count))
        ELSE '{}'::jsonb END
    || CASE WHEN o.indexed_items_size IS DISTINCT FROM n.indexed_items_size
        THEN jsonb_build_object('indexedItemsSize', jsonb_build_object('old', o.indexed_items_size, 'new', n.indexed_items_size))
        ELSE '{}'::jsonb END
    || CASE WHEN o.unindexed_item_count IS DISTINCT FROM n.unindexed_item_count
        THEN jsonb_build_object('unindexedItemCount', jsonb_build_object('old', o.unindexed_item_count, 'new', n.unindexed_item_count))
        ELSE '{}'::jsonb END
    || CASE WHEN o.unindexed_items_size IS DISTINCT FROM n.unindexed_items_size
        THEN jsonb_build_object('unindexedItemsSize', jsonb_build_object('old', o.unindexed_items_size, 'new', n.unindexed_items_size))
        ELSE '{}'::jsonb END
    || CASE WHEN o.mailbox_count IS DISTINCT FROM n.mailbox_count
        THEN jsonb_build_object('mailboxCount', jsonb_build_object('old', o.mailbox_count, 'new', n.mailbox_count))
        ELSE '{}'::jsonb END
    || CASE WHEN o.site_count IS DISTINCT FROM n.site_count
        THEN jsonb_build_object('siteCount', jsonb_build_object('old', o.site_count, 'new', n.site_count))
        ELSE '{}'::jsonb END
    || CASE WHEN o.statistics_options IS DISTINCT FROM n.statistics_options
        THEN jsonb_build_object('statisticsOptions', jsonb_build_object('old', o.statistics_options, 'new', n.statistics_options))
        ELSE '{}'::jsonb END
    || CASE WHEN o.additional_data_options IS DISTINCT FROM n.additional_data_options
        THEN jsonb_build_object('additionalDataOptions', jsonb_build_object('old', o.additional_data_options, 'new', n.additional_data_options))
        ELSE '{}'::jsonb END
    || CASE WHEN o.items_to_include IS DISTINCT FROM n.items_to_include
        THEN jsonb_build_object('itemsToInclude', jsonb_build_object('old', o.items_to_include, 'new', n.items_to_include))
        ELSE '{}'::jsonb END
    || CASE WHEN o.export_options IS DISTINCT FROM n.export_options
        THEN jsonb_build_object('exportOptions', jsonb_build_object('old', o.export_options, 'new', n.export_options))
        ELSE '{}'::jsonb END
    || CASE WHEN o.export_structure IS DISTINCT FROM n.export_structure
        THEN jsonb_build_object('exportStructure', jsonb_build_object('old', o.export_structure, 'new', n.export_structure))
        ELSE '{}'::jsonb END
    || CASE WHEN o.additional_options IS DISTINCT FROM n.additional_options
        THEN jsonb_build_object('additionalOptions', jsonb_build_object('old', o.additional_options, 'new', n.additional_options))
        ELSE '{}'::jsonb END
    || CASE WHEN o.export_criteria IS DISTINCT FROM n.export_criteria
        THEN jsonb_build_object('exportCriteria', jsonb_build_object('old', o.export_criteria, 'new', n.export_criteria))
        ELSE '{}'::jsonb END
    || CASE WHEN o.export_location IS DISTINCT FROM n.export_location
        THEN jsonb_build_object('exportLocation', jsonb_build_object('old', o.export_location, 'new', n.export_location))
        ELSE '{}'::jsonb END
    || CASE WHEN o.export_format IS DISTINCT FROM n.export_format
        THEN jsonb_build_object('exportFormat', jsonb_build_object('old', o.export_format, 'new', n.export_format))
        ELSE '{}'::jsonb END
    || CASE WHEN o.export_single_items IS DISTINCT FROM n.export_single_items
        THEN jsonb_build_object('exportSingleItems', jsonb_build_object('old', o.export_single_items, 'new', n.export_single_items))
        ELSE '{}'::jsonb END;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
-- Going down is refused while any row is of a security type or uses a later caseAction member.
DO $$
BEGIN
    IF EXISTS (SELECT FROM case_operations WHERE action::text IN ('holdUpdate', 'purgeData', 'exportReport', 'exportResult', 'holdPolicySync'))
       OR EXISTS (SELECT FROM case_operations WHERE odata_type LIKE '#microsoft.graph.security.%')
       OR EXISTS (SELECT FROM case_operation_daily_counts WHERE action::text IN ('holdUpdate', 'purgeData', 'exportReport', 'exportResult', 'holdPolicySync'))
       OR EXISTS (SELECT FROM case_operation_duration_counts WHERE action::text IN ('holdUpdate', 'purgeData', 'exportReport', 'exportResult', 'holdPolicySync'))
       OR EXISTS (SELECT FROM case_operation_duration_block_counts WHERE action::text IN ('holdUpdate', 'purgeData', 'exportReport', 'exportResult', 'holdPolicySync')) THEN
        RAISE EXCEPTION 'operations of the microsoft.graph.security types or the later caseAction members exist; delete them before migrating down'
            USING ERRCODE = 'object_in_use';
    END IF;
END
$$;
-- +goose StatementEnd

DROP FUNCTION case_operation_changes(case_operations, case_operations);

ALTER TABLE case_operations DROP CONSTRAINT case_operations_own_properties_only,
    DROP COLUMN description,
    DROP COLUMN display_name,
    DROP COLUMN output_name,
    DROP COLUMN cloud_attachment_version,
    DROP COLUMN document_version,
    DROP COLUMN report_file_metadata,
    DROP COLUMN export_file_metadata,
    DROP COLUMN indexed_item_count,
    DROP COLUMN indexed_items_size,
    DROP COLUMN unindexed_item_count,
    DROP COLUMN unindexed_items_size,
    DROP COLUMN mailbox_count,
    DROP COLUMN site_count,
    DROP COLUMN statistics_options,
    DROP COLUMN additional_data_options,
    DROP COLUMN items_to_include,
    DROP COLUMN export_options,
    DROP COLUMN export_structure,
    DROP COLUMN additional_options,
    DROP COLUMN export_criteria,
    DROP COLUMN export_location,
    DROP COLUMN export_format,
    DROP COLUMN export_single_items,
    DROP COLUMN operation_type,
    DROP CONSTRAINT case_operations_odata_type_known;
ALTER TABLE case_operations ADD CONSTRAINT case_operations_odata_type_known CHECK (odata_type IN (
    '#microsoft.graph.tagOperation',
    '#microsoft.graph.caseExportOperation',
    '#microsoft.graph.caseHoldOperation',
    '#microsoft.graph.caseIndexOperation',
    '#microsoft.graph.addToReviewSetOperation',
    '#microsoft.graph.estimateStatisticsOperation',
    '#microsoft.graph.purgeDataOperation'
));
-- +goose StatementBegin
CREATE FUNCTION case_operation_changes(o case_operations, n case_operations) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN o.created_date_time IS DISTINCT FROM n.created_date_time
        THEN jsonb_build_object('createdDateTime', jsonb_build_object(
            'old', case_operation_json_time(o.created_date_time), 'new', case_operation_json_time(n.created_date_time)))
        ELSE '{}'::jsonb END
    || CASE WHEN o.completed_date_time IS DISTINCT FROM n.completed_date_time
        THEN jsonb_build_object('completedDateTime', jsonb_build_object(
            'old', case_operation_json_time(o.completed_date_time), 'new', case_operation_json_time(n.completed_date_time)))
        ELSE '{}'::jsonb END
    || CASE WHEN o.percent_progress IS DISTINCT FROM n.percent_progress
        THEN jsonb_build_object('percentProgress', jsonb_build_object('old', o.percent_progress, 'new', n.percent_progress))
        ELSE '{}'::jsonb END
    || CASE WHEN o.status IS DISTINCT FROM n.status
        THEN jsonb_build_object('status', jsonb_build_object('old', o.status, 'new', n.status))
        ELSE '{}'::jsonb END
    || CASE WHEN o.action IS DISTINCT FROM n.action
        THEN jsonb_build_object('action', jsonb_build_object('old', o.action, 'new', n.action))
        ELSE '{}'::jsonb END
    || CASE WHEN o.created_by IS DISTINCT FROM n.created_by
        THEN jsonb_build_object('createdBy', jsonb_build_object('old', o.created_by, 'new', n.created_by))
        ELSE '{}'::jsonb END
    || CASE WHEN (o.result_code, o.result_message, o.result_subcode) IS DISTINCT FROM (n.result_code, n.result_message, n.result_subcode)
        THEN jsonb_build_object('resultInfo', jsonb_build_object(
            'old', case_operation_result_info(o.result_code, o.result_message, o.result_subcode),
            'new', case_operation_result_info(n.result_code, n.result_message, n.result_subcode)))
        ELSE '{}'::jsonb END;
-- +goose StatementEnd
DROP FUNCTION case_operation_file_metadata_is_valid(jsonb);
DROP FUNCTION case_operation_flags_are_valid(text, text[]);
DROP FUNCTION case_operation_type_of(text);
-- The five caseAction labels stay: Postgres cannot drop an enum value, and rebuilding case_action means rebuilding
-- the rollup tables and functions of 00003 that use it. No row can hold them after the check above.
