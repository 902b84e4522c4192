-- Delivery keys make a repeated delivery attempt harmless: queued files a
-- message for a recipient with the key "queue entry/recipient", and a second
-- attempt after a crash finds the key and stores nothing (see
-- store.NewMessage.DeliveryKey). Keys older than the queue's lifetime are
-- pruned.
CREATE TABLE delivery_keys (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    created    INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
CREATE INDEX delivery_keys_created ON delivery_keys(created);
