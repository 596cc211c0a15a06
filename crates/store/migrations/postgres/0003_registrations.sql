-- Where each agent's phones were registered, so that a restarted centre rings them at once
-- (not a projection of the event log: registrations are refreshed far too often to log).
-- One row per binding; the rows of an extension are replaced together.
CREATE TABLE registrations (
    extension  TEXT    NOT NULL,
    pos        BIGINT  NOT NULL,
    uri        TEXT    NOT NULL,
    expires_ns BIGINT  NOT NULL,
    call_id    TEXT    NOT NULL,
    cseq       BIGINT  NOT NULL,
    source     TEXT    NOT NULL,
    transport  TEXT    NOT NULL,
    instance   TEXT,
    reg_id     BIGINT ,
    PRIMARY KEY (extension, pos)
);
