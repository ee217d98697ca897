#!/bin/sh
# A shell pair: mkfifo(1) makes the FIFO, a background job writes it, the shell reads
# it, waits for the job, and rm(1) removes the FIFO: made and removed by child processes.
set -e
fifo="$1/sh.fifo"
mkfifo "$fifo"
(echo hi > "$fifo") &
read -r line < "$fifo"
wait $!
rm "$fifo"
[ "$line" = hi ]
