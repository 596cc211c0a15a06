-- The PostgreSQL text of the SQLite migration of the same number: BIGINT for INTEGER,
-- DOUBLE PRECISION for REAL, "user" quoted (a reserved word here).
-- The event log: the only source of truth. Everything else in this file is a projection
-- that Store::rebuild_projections() can recompute from it.
CREATE TABLE events (
    seq         BIGINT  PRIMARY KEY,          -- 1, 2, 3, ... assigned by the single writer
    id          TEXT    NOT NULL UNIQUE,      -- EventId (ULID)
    stream      TEXT    NOT NULL,             -- interaction | agent | customer | audit
    interaction TEXT,                         -- InteractionId for interaction events
    kind        TEXT    NOT NULL,             -- kind or state name, for ad-hoc SQL
    at_ns       BIGINT  NOT NULL,             -- unix nanoseconds (UTC)
    v           BIGINT  NOT NULL,             -- event format version of body
    body        TEXT    NOT NULL              -- the event as JSON
);
CREATE INDEX events_by_interaction ON events (interaction, seq) WHERE interaction IS NOT NULL;

-- The CDR: one row per interaction.
CREATE TABLE interactions (
    id                   TEXT    PRIMARY KEY,
    channel              TEXT,
    from_addr            TEXT,
    to_addr              TEXT,
    trunk                TEXT,
    queue                TEXT,
    agent                TEXT,
    customer             TEXT,
    started_ns           BIGINT  NOT NULL,
    answered_ns          BIGINT ,
    ended_ns             BIGINT ,
    end_reason           TEXT,
    recording            TEXT,
    mos                  DOUBLE PRECISION,
    agitation            DOUBLE PRECISION,
    survey               BIGINT ,
    disposition          TEXT,
    flagged              BIGINT  NOT NULL DEFAULT 0,
    escalated            BIGINT  NOT NULL DEFAULT 0,
    transfers            BIGINT  NOT NULL DEFAULT 0,
    callback_number      TEXT,
    voicemail            TEXT,
    abandoned_after_secs DOUBLE PRECISION,
    last_at_ns           BIGINT  NOT NULL,
    last_seq             BIGINT  NOT NULL
);
CREATE INDEX interactions_by_start ON interactions (started_ns);
-- Contact history: a customer's interactions, newest first.
CREATE INDEX interactions_by_customer ON interactions (customer, started_ns) WHERE customer IS NOT NULL;
CREATE INDEX interactions_open ON interactions (id) WHERE ended_ns IS NULL;

CREATE TABLE customers (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    phones      TEXT    NOT NULL,             -- JSON array
    accounts    TEXT    NOT NULL,             -- JSON array
    vip         BIGINT  NOT NULL,
    language    TEXT,
    updated_seq BIGINT  NOT NULL
);
CREATE TABLE customer_phones (
    phone    TEXT NOT NULL,
    customer TEXT NOT NULL,
    PRIMARY KEY (phone, customer)
);

CREATE TABLE notes (
    seq         BIGINT  PRIMARY KEY,          -- the event the note came from
    interaction TEXT    NOT NULL,
    at_ns       BIGINT  NOT NULL,
    by_user     TEXT    NOT NULL,
    text        TEXT    NOT NULL
);
CREATE INDEX notes_by_interaction ON notes (interaction, seq);

CREATE TABLE audit (
    seq     BIGINT  PRIMARY KEY,              -- the event the entry came from
    at_ns   BIGINT  NOT NULL,
    "user"  TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT
);
CREATE INDEX audit_by_time ON audit (at_ns);

CREATE TABLE recordings (
    path        TEXT    PRIMARY KEY,
    interaction TEXT    NOT NULL,
    kind        TEXT    NOT NULL,             -- recording | voicemail
    at_ns       BIGINT  NOT NULL,
    seq         BIGINT  NOT NULL
);
CREATE INDEX recordings_by_interaction ON recordings (interaction);

CREATE TABLE agent_states (
    agent    TEXT    PRIMARY KEY,
    state    TEXT    NOT NULL,                -- AgentState as JSON
    since_ns BIGINT  NOT NULL,
    seq      BIGINT  NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
