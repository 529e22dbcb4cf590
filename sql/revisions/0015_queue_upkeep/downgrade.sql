-- Back to 0014: a deleted attachment's queue entries are kept (the ones 0015 deleted are not restored:
-- no attachment names them).
DROP TRIGGER forget_queue ON compressae.attachments;
DROP FUNCTION compressae.forget_queue();
