-- Leases: which node may write, and since which epoch (fencing). A node holds the lease
-- `name` until `expires_at` (unix nanoseconds) and renews it before; a node that takes it
-- over raises `epoch`, and a store fenced with an older epoch can no longer commit.
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    epoch      BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
-- The lease epoch each event was written under (0: written without a lease).
ALTER TABLE events ADD COLUMN epoch BIGINT  NOT NULL DEFAULT 0;
