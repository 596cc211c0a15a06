-- Each queue's figures per 15-minute interval (GET /api/v1/reports/intervals and its CSV),
-- and each agent's contacts handled per UTC day (GET /api/v1/agents): projections kept as
-- events are appended, so a day's report reads a few hundred rows instead of every
-- interaction of the day. An interaction counts in the interval its start falls in, in the
-- queue its record names now, exactly as counting its record would.
CREATE TABLE queue_intervals (
    start_ns  INTEGER NOT NULL,              -- interval start, unix nanoseconds (UTC)
    queue     TEXT    NOT NULL,
    offered   INTEGER NOT NULL DEFAULT 0,
    answered  INTEGER NOT NULL DEFAULT 0,
    abandoned INTEGER NOT NULL DEFAULT 0,    -- ended unanswered: abandoned or caller hangup
    wait_ns   INTEGER NOT NULL DEFAULT 0,    -- sum of the answered ones' waits
    talked    INTEGER NOT NULL DEFAULT 0,    -- answered and ended
    talk_ns   INTEGER NOT NULL DEFAULT 0,    -- sum of their answer-to-end times
    PRIMARY KEY (start_ns, queue)
) WITHOUT ROWID;
-- The answered ones by wait rounded up to whole seconds, as queue_day_waits, per interval.
CREATE TABLE queue_interval_waits (
    start_ns INTEGER NOT NULL,
    queue    TEXT    NOT NULL,
    wait_s   INTEGER NOT NULL,
    answered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (start_ns, queue, wait_s)
) WITHOUT ROWID;
-- Interactions answered by each agent, by the UTC day they started.
CREATE TABLE agent_days (
    day_ns  INTEGER NOT NULL,
    agent   TEXT    NOT NULL,
    handled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day_ns, agent)
) WITHOUT ROWID;
