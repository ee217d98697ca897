
use builtin;
use str;

set edit:completion:arg-completer[osps] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'osps'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'osps'= {
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand primary 'Create the segment and FIFOs, start the secondary, run rounds, stop in order.'
            cand inspect 'Show instances (segment, lock, FIFOs, processes) as one JSON document on stdout.'
            cand cleanup 'Remove what crashed instances left behind; never touches a running one.'
            cand client 'Send requests to a serving primary and print the replies.'
            cand list 'One line per instance of the current user, as a table (or JSON with --json).'
            cand ls 'One line per instance of the current user, as a table (or JSON with --json).'
            cand status 'Describe one instance for people: processes, counters, objects, heartbeats, warnings.'
            cand stop 'Stop a running instance in order: SIGTERM to its primary, then wait.'
            cand top 'A live view of every instance, refreshed every --interval (q quits).'
            cand audit 'Run a program and report what it left behind: segments, queues, FIFOs, zombies, processes.'
            cand completions 'Print the completion script for a shell (the same as completions/ in the sources).'
            cand man 'Print a man page in roff (the same as man/ in the sources).'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'osps;primary'= {
            cand -n 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)'
            cand --name 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)'
            cand --runtime-dir 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]'
            cand --size 'Segment size: a multiple of 8, at least one page, at most 1G (suffixes K, M, G)'
            cand --payload 'Bytes exchanged per round, at most the data area (size minus the 256-byte header)'
            cand --rounds 'Run N rounds back to back, then stop (default: run until SIGINT or SIGTERM)'
            cand --interval 'Time between heartbeat rounds when running without --rounds (not 0)'
            cand --start-timeout 'How long the secondary may take to start and say hello (not 0)'
            cand --timeout 'How long a round may take before the secondary counts as hung (killed, restarted; not 0)'
            cand --max-restarts 'Restarts of a dead or hung secondary allowed within a minute before giving up (0: never restart)'
            cand --restart-backoff 'Wait before the first restart; doubles with each restart in the last minute, capped at 5s'
            cand --sync 'How the two sides wait for their turn'
            cand --spin 'In adaptive mode, the longest a wait polls the segment before sleeping on the FIFO (below --timeout); the budget shrinks when polling does not pay'
            cand --trace 'Print every system-level step of both processes on stderr: aligned text, or NDJSON with =json'
            cand --hold-zombie 'Wait this long between the secondary''s exit and its reap, so ps shows it as a zombie (Z)'
            cand --tcp 'With --serve, also accept clients on this TCP address (loopback only without --tcp-any)'
            cand --secondaries 'With --serve, how many secondaries share the work (each its own FIFO pair and slot)'
            cand --max-line 'With --serve, the longest request line; longer ones get "ERR line too long"'
            cand --max-clients 'With --serve, how many clients may be connected at once [default: 1024, or fewer if the descriptor limit allows fewer]'
            cand --max-inflight 'With --serve, how many requests of one client may wait or be served at once; beyond, it is not read until its replies drain'
            cand --queue 'With --serve, how many requests may wait for a free secondary; beyond, "ERR busy"'
            cand --share-cpu 'With --serve, whether the primary and its secondaries run together on one CPU (pinned), leaving the others to the clients: more requests a second under load on few CPUs (together, a lone client waits longer)'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand --json 'Print the final summary as one JSON object on stdout'
            cand --serve 'Serve clients (see osps-client(1)) on RUNDIR/NAME.sock instead of running rounds'
            cand --tcp-any 'Allow --tcp to bind a non-loopback address'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;inspect'= {
            cand -n 'Only this instance (default: every instance of the current user)'
            cand --name 'Only this instance (default: every instance of the current user)'
            cand --runtime-dir 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand --compact 'One line instead of pretty-printed JSON'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;cleanup'= {
            cand -n 'Only this instance (default: every instance of the current user)'
            cand --name 'Only this instance (default: every instance of the current user)'
            cand --runtime-dir 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand --dry-run 'Say what would be removed, change nothing'
            cand --json 'Print the report as JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;client'= {
            cand -n 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)'
            cand --name 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)'
            cand --runtime-dir 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]'
            cand --socket 'Connect to this Unix socket instead of RUNDIR/NAME.sock (not with --name or --runtime-dir)'
            cand --tcp 'Connect over TCP instead of the Unix socket (not with --name or --runtime-dir)'
            cand --timeout 'How long to wait for each reply, for the connection, and for an instance that is starting (not 0)'
            cand --max-line 'The longest request line, as the server''s --max-line: a longer one is refused, not sent'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;list'= {
            cand -o 'Columns to show, comma-separated ("-o help" lists them) [default: all]'
            cand --output 'Columns to show, comma-separated ("-o help" lists them) [default: all]'
            cand --runtime-dir 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand -n 'Print no heading line'
            cand --noheadings 'Print no heading line'
            cand --json 'Print the rows as one JSON object on stdout (schema_version, instances[])'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;ls'= {
            cand -o 'Columns to show, comma-separated ("-o help" lists them) [default: all]'
            cand --output 'Columns to show, comma-separated ("-o help" lists them) [default: all]'
            cand --runtime-dir 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand -n 'Print no heading line'
            cand --noheadings 'Print no heading line'
            cand --json 'Print the rows as one JSON object on stdout (schema_version, instances[])'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;status'= {
            cand -n 'The same as NAME, spelled as the other commands take it'
            cand --name 'The same as NAME, spelled as the other commands take it'
            cand --runtime-dir 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;stop'= {
            cand -n 'The same as NAME, spelled as the other commands take it'
            cand --name 'The same as NAME, spelled as the other commands take it'
            cand --timeout 'How long to wait for the orderly stop (not 0)'
            cand --runtime-dir 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand --all 'Stop every running instance of the current user (in this runtime directory)'
            cand --kill 'Past --timeout, SIGKILL the primary and its secondaries and clean up'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;top'= {
            cand -n 'Only this instance (default: every instance of the current user)'
            cand --name 'Only this instance (default: every instance of the current user)'
            cand --runtime-dir 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]'
            cand --interval 'Time between two refreshes'
            cand --iterations 'Stop after N refreshes (default: until q, SIGINT or SIGTERM)'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand --json 'Print one compact JSON document per interval on stdout instead of drawing'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;audit'= {
            cand --zombie-threshold 'A child not reaped within this time after it exited is a zombie finding'
            cand --grace 'How long to keep following after the main process ended'
            cand --timeout 'Stop following after this long, for programs that never end (not 0) [default: no limit]'
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand --json 'Print the report as one JSON document on stdout'
            cand --clean 'After the report, remove the segments, semaphores and FIFOs it reported as left'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;completions'= {
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;man'= {
            cand --color 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Only warnings and errors on stderr'
            cand --quiet 'Only warnings and errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'osps;help'= {
            cand primary 'Create the segment and FIFOs, start the secondary, run rounds, stop in order.'
            cand inspect 'Show instances (segment, lock, FIFOs, processes) as one JSON document on stdout.'
            cand cleanup 'Remove what crashed instances left behind; never touches a running one.'
            cand client 'Send requests to a serving primary and print the replies.'
            cand list 'One line per instance of the current user, as a table (or JSON with --json).'
            cand status 'Describe one instance for people: processes, counters, objects, heartbeats, warnings.'
            cand stop 'Stop a running instance in order: SIGTERM to its primary, then wait.'
            cand top 'A live view of every instance, refreshed every --interval (q quits).'
            cand audit 'Run a program and report what it left behind: segments, queues, FIFOs, zombies, processes.'
            cand completions 'Print the completion script for a shell (the same as completions/ in the sources).'
            cand man 'Print a man page in roff (the same as man/ in the sources).'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'osps;help;primary'= {
        }
        &'osps;help;inspect'= {
        }
        &'osps;help;cleanup'= {
        }
        &'osps;help;client'= {
        }
        &'osps;help;list'= {
        }
        &'osps;help;status'= {
        }
        &'osps;help;stop'= {
        }
        &'osps;help;top'= {
        }
        &'osps;help;audit'= {
        }
        &'osps;help;completions'= {
        }
        &'osps;help;man'= {
        }
        &'osps;help;help'= {
        }
    ]
    $completions[$command]
}
