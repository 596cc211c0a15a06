-- The PostgreSQL text of 0013_report_intervals.sql: each queue's figures per 15-minute
-- interval and each agent's contacts handled per UTC day, projections kept as events are
-- appended.
CREATE TABLE queue_intervals (
    start_ns  BIGINT NOT NULL,
    queue     TEXT   NOT NULL,
    offered   BIGINT NOT NULL DEFAULT 0,
    answered  BIGINT NOT NULL DEFAULT 0,
    abandoned BIGINT NOT NULL DEFAULT 0,
    wait_ns   BIGINT NOT NULL DEFAULT 0,
    talked    BIGINT NOT NULL DEFAULT 0,
    talk_ns   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (start_ns, queue)
);
CREATE TABLE queue_interval_waits (
    start_ns BIGINT NOT NULL,
    queue    TEXT   NOT NULL,
    wait_s   BIGINT NOT NULL,
    answered BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (start_ns, queue, wait_s)
);
CREATE TABLE agent_days (
    day_ns  BIGINT NOT NULL,
    agent   TEXT   NOT NULL,
    handled BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day_ns, agent)
);
