//! The conversation-details tables (design.md §4). Columns the analysts query are typed;
//! every other field of a level lands in that level's `_extra` JSON, so nothing is lost.

use super::{ColumnDef, ColumnType as T, Source, TableDef};

const fn field(name: &'static str, api: &'static str, ty: T) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        nullable: true,
        source: Source::Field(api),
    }
}
const fn required(name: &'static str, api: &'static str, ty: T) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        nullable: false,
        source: Source::Field(api),
    }
}
const fn nested(name: &'static str, obj: &'static str, api: &'static str, ty: T) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        nullable: true,
        source: Source::Nested(obj, api),
    }
}
const fn context(name: &'static str, ty: T) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        nullable: false,
        source: Source::Context,
    }
}
const VERSION: ColumnDef = ColumnDef {
    name: "_version",
    ty: T::UInt64,
    nullable: false,
    source: Source::Version,
};
const EXTRA: ColumnDef = ColumnDef {
    name: "_extra",
    ty: T::Utf8,
    nullable: false,
    source: Source::Extra,
};
const PARTITION: &str = "toYYYYMM(conversation_start)";

/// Identifies a table; the discriminant indexes per-table arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableId {
    Conversations = 0,
    Participants = 1,
    ParticipantAttributes = 2,
    Sessions = 3,
    Segments = 4,
    SessionMetrics = 5,
}

pub static CONVERSATIONS: TableDef = TableDef {
    id: TableId::Conversations,
    name: "conversations",
    columns: &[
        required("conversation_id", "conversationId", T::Utf8),
        required("conversation_start", "conversationStart", T::TimestampMs),
        field("conversation_end", "conversationEnd", T::TimestampMs),
        field("originating_direction", "originatingDirection", T::Enum),
        field("conversation_initiator", "conversationInitiator", T::Enum),
        field("customer_participation", "customerParticipation", T::Bool),
        field("division_ids", "divisionIds", T::Utf8List),
        field(
            "media_stats_min_conversation_mos",
            "mediaStatsMinConversationMos",
            T::Float64,
        ),
        field(
            "media_stats_min_conversation_r_factor",
            "mediaStatsMinConversationRFactor",
            T::Float64,
        ),
        field("external_tag", "externalTag", T::Utf8),
        field("self_served", "selfServed", T::Bool),
        field(
            "originating_social_media_public",
            "originatingSocialMediaPublic",
            T::Bool,
        ),
        field(
            "associated_conversation_id",
            "associatedConversationId",
            T::Utf8,
        ),
        VERSION,
        EXTRA,
    ],
    key: &["conversation_id"],
    partition_by: PARTITION,
    version: "_version",
};

pub static PARTICIPANTS: TableDef = TableDef {
    id: TableId::Participants,
    name: "participants",
    columns: &[
        context("conversation_id", T::ParentId),
        context("conversation_start", T::TimestampMs),
        required("participant_id", "participantId", T::Utf8),
        field("participant_name", "participantName", T::Utf8),
        field("purpose", "purpose", T::Enum),
        field("user_id", "userId", T::Label),
        field("team_id", "teamId", T::Label),
        field("external_contact_id", "externalContactId", T::Utf8),
        field(
            "external_organization_id",
            "externalOrganizationId",
            T::Utf8,
        ),
        field("flagged_reason", "flaggedReason", T::Enum),
        field("screen_recording", "screenRecording", T::Bool),
        VERSION,
        EXTRA,
    ],
    key: &["conversation_id", "participant_id"],
    partition_by: PARTITION,
    version: "_version",
};

pub static PARTICIPANT_ATTRIBUTES: TableDef = TableDef {
    id: TableId::ParticipantAttributes,
    name: "participant_attributes",
    columns: &[
        context("conversation_id", T::ParentId),
        context("conversation_start", T::TimestampMs),
        context("participant_id", T::ParentId),
        context("name", T::Label),
        ColumnDef {
            name: "value",
            ty: T::Utf8,
            nullable: true,
            source: Source::Context,
        },
        VERSION,
        EXTRA,
    ],
    key: &["conversation_id", "participant_id", "name"],
    partition_by: PARTITION,
    version: "_version",
};

pub static SESSIONS: TableDef = TableDef {
    id: TableId::Sessions,
    name: "sessions",
    columns: &[
        context("conversation_id", T::ParentId),
        context("conversation_start", T::TimestampMs),
        context("participant_id", T::ParentId),
        required("session_id", "sessionId", T::Utf8),
        field("media_type", "mediaType", T::Enum),
        field("direction", "direction", T::Enum),
        field("message_type", "messageType", T::Enum),
        field("ani", "ani", T::Utf8),
        field("dnis", "dnis", T::Label),
        field("session_dnis", "sessionDnis", T::Utf8),
        field("address_from", "addressFrom", T::Utf8),
        field("address_to", "addressTo", T::Utf8),
        field("address_self", "addressSelf", T::Utf8),
        field("address_other", "addressOther", T::Utf8),
        field("remote", "remote", T::Utf8),
        field("provider", "provider", T::Enum),
        field("edge_id", "edgeId", T::Label),
        field("peer_id", "peerId", T::Utf8),
        field("protocol_call_id", "protocolCallId", T::Utf8),
        field("requested_routings", "requestedRoutings", T::Utf8List),
        field("used_routing", "usedRouting", T::Enum),
        field("selected_agent_id", "selectedAgentId", T::Label),
        field("routing_ring", "routingRing", T::Int32),
        field("active_skill_ids", "activeSkillIds", T::Utf8List),
        field("outbound_campaign_id", "outboundCampaignId", T::Label),
        field("outbound_contact_id", "outboundContactId", T::Utf8),
        field(
            "outbound_contact_list_id",
            "outboundContactListId",
            T::Label,
        ),
        field("recording", "recording", T::Bool),
        field("media_count", "mediaCount", T::Int32),
        nested("flow_flow_id", "flow", "flowId", T::Label),
        nested("flow_flow_name", "flow", "flowName", T::Label),
        nested("flow_flow_version", "flow", "flowVersion", T::Label),
        nested("flow_flow_type", "flow", "flowType", T::Enum),
        nested("flow_entry_type", "flow", "entryType", T::Enum),
        nested("flow_entry_reason", "flow", "entryReason", T::Utf8),
        nested("flow_exit_reason", "flow", "exitReason", T::Utf8),
        nested("flow_transfer_type", "flow", "transferType", T::Utf8),
        nested(
            "flow_transfer_target_name",
            "flow",
            "transferTargetName",
            T::Label,
        ),
        nested(
            "flow_transfer_target_address",
            "flow",
            "transferTargetAddress",
            T::Label,
        ),
        nested("flow_issued_callback", "flow", "issuedCallback", T::Bool),
        nested(
            "flow_starting_language",
            "flow",
            "startingLanguage",
            T::Utf8,
        ),
        nested("flow_ending_language", "flow", "endingLanguage", T::Label),
        VERSION,
        EXTRA,
    ],
    key: &["conversation_id", "participant_id", "session_id"],
    partition_by: PARTITION,
    version: "_version",
};

pub static SEGMENTS: TableDef = TableDef {
    id: TableId::Segments,
    name: "segments",
    columns: &[
        context("conversation_id", T::ParentId),
        context("conversation_start", T::TimestampMs),
        context("participant_id", T::ParentId),
        context("session_id", T::ParentId),
        context("segment_index", T::UInt32),
        required("segment_start", "segmentStart", T::TimestampMs),
        field("segment_end", "segmentEnd", T::TimestampMs),
        field("segment_type", "segmentType", T::Enum),
        field("queue_id", "queueId", T::Label),
        field("disconnect_type", "disconnectType", T::Enum),
        field("wrap_up_code", "wrapUpCode", T::Label),
        field("wrap_up_note", "wrapUpNote", T::Utf8),
        field("wrap_up_tags", "wrapUpTags", T::Utf8List),
        field("conference", "conference", T::Bool),
        field("error_code", "errorCode", T::Utf8),
        field("group_id", "groupId", T::Label),
        field("subject", "subject", T::Utf8),
        field("audio_muted", "audioMuted", T::Bool),
        field("video_muted", "videoMuted", T::Bool),
        field("requested_language_id", "requestedLanguageId", T::Label),
        field(
            "requested_routing_skill_ids",
            "requestedRoutingSkillIds",
            T::Utf8List,
        ),
        field(
            "requested_routing_user_ids",
            "requestedRoutingUserIds",
            T::Utf8List,
        ),
        field("source_conversation_id", "sourceConversationId", T::Utf8),
        field("source_session_id", "sourceSessionId", T::Utf8),
        field(
            "destination_conversation_id",
            "destinationConversationId",
            T::Utf8,
        ),
        field("destination_session_id", "destinationSessionId", T::Utf8),
        VERSION,
        EXTRA,
    ],
    key: &[
        "conversation_id",
        "participant_id",
        "session_id",
        "segment_index",
    ],
    partition_by: PARTITION,
    version: "_version",
};

pub static SESSION_METRICS: TableDef = TableDef {
    id: TableId::SessionMetrics,
    name: "session_metrics",
    columns: &[
        context("conversation_id", T::ParentId),
        context("conversation_start", T::TimestampMs),
        context("participant_id", T::ParentId),
        context("session_id", T::ParentId),
        context("metric_index", T::UInt32),
        required("name", "name", T::Enum),
        required("value", "value", T::Int64),
        field("emit_date", "emitDate", T::TimestampMs),
        VERSION,
        EXTRA,
    ],
    key: &[
        "conversation_id",
        "participant_id",
        "session_id",
        "metric_index",
    ],
    partition_by: PARTITION,
    version: "_version",
};

/// Every conversation-details table, indexed by `TableId as usize`.
pub static ALL_TABLES: [&TableDef; 6] = [
    &CONVERSATIONS,
    &PARTICIPANTS,
    &PARTICIPANT_ATTRIBUTES,
    &SESSIONS,
    &SEGMENTS,
    &SESSION_METRICS,
];
