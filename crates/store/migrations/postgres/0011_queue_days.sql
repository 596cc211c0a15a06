-- The PostgreSQL text of 0011_queue_days.sql: each UTC day's figures per queue, a
-- projection kept as events are appended; indexes for pages of interactions.
CREATE TABLE queue_days (
    day_ns    BIGINT NOT NULL,
    queue     TEXT   NOT NULL,
    offered   BIGINT NOT NULL DEFAULT 0,
    answered  BIGINT NOT NULL DEFAULT 0,
    abandoned BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day_ns, queue)
);
CREATE TABLE queue_day_waits (
    day_ns   BIGINT NOT NULL,
    queue    TEXT   NOT NULL,
    wait_s   BIGINT NOT NULL,
    answered BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day_ns, queue, wait_s)
);
DROP INDEX interactions_by_start;
CREATE INDEX interactions_by_start ON interactions (started_ns, id);
CREATE INDEX interactions_by_agent ON interactions (agent, started_ns, id) WHERE agent IS NOT NULL;
