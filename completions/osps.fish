# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_osps_global_optspecs
    string join \n v/verbose q/quiet color= h/help V/version
end

function __fish_osps_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_osps_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_osps_using_subcommand
    set -l cmd (__fish_osps_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c osps -n "__fish_osps_needs_command" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_needs_command" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_needs_command" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_needs_command" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_needs_command" -f -a "primary" -d 'Create the segment and FIFOs, start the secondary, run rounds, stop in order.'
complete -c osps -n "__fish_osps_needs_command" -f -a "inspect" -d 'Show instances (segment, lock, FIFOs, processes) as one JSON document on stdout.'
complete -c osps -n "__fish_osps_needs_command" -f -a "cleanup" -d 'Remove what crashed instances left behind; never touches a running one.'
complete -c osps -n "__fish_osps_needs_command" -f -a "client" -d 'Send requests to a serving primary and print the replies.'
complete -c osps -n "__fish_osps_needs_command" -f -a "list" -d 'One line per instance of the current user, as a table (or JSON with --json).'
complete -c osps -n "__fish_osps_needs_command" -f -a "ls" -d 'One line per instance of the current user, as a table (or JSON with --json).'
complete -c osps -n "__fish_osps_needs_command" -f -a "status" -d 'Describe one instance for people: processes, counters, objects, heartbeats, warnings.'
complete -c osps -n "__fish_osps_needs_command" -f -a "stop" -d 'Stop a running instance in order: SIGTERM to its primary, then wait.'
complete -c osps -n "__fish_osps_needs_command" -f -a "top" -d 'A live view of every instance, refreshed every --interval (q quits).'
complete -c osps -n "__fish_osps_needs_command" -f -a "audit" -d 'Run a program and report what it left behind: segments, queues, FIFOs, zombies, processes.'
complete -c osps -n "__fish_osps_needs_command" -f -a "completions" -d 'Print the completion script for a shell (the same as completions/ in the sources).'
complete -c osps -n "__fish_osps_needs_command" -f -a "man" -d 'Print a man page in roff (the same as man/ in the sources).'
complete -c osps -n "__fish_osps_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c osps -n "__fish_osps_using_subcommand primary" -l runtime-dir -d 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]' -r -F
complete -c osps -n "__fish_osps_using_subcommand primary" -l size -d 'Segment size: a multiple of 8, at least one page, at most 1G (suffixes K, M, G)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l payload -d 'Bytes exchanged per round, at most the data area (size minus the 256-byte header)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l rounds -d 'Run N rounds back to back, then stop (default: run until SIGINT or SIGTERM)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l interval -d 'Time between heartbeat rounds when running without --rounds (not 0)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l start-timeout -d 'How long the secondary may take to start and say hello (not 0)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l timeout -d 'How long a round may take before the secondary counts as hung (killed, restarted; not 0)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l max-restarts -d 'Restarts of a dead or hung secondary allowed within a minute before giving up (0: never restart)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l restart-backoff -d 'Wait before the first restart; doubles with each restart in the last minute, capped at 5s' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l sync -d 'How the two sides wait for their turn' -r -f -a "fifo\t'Every turn is a frame on the FIFO; the waiting side blocks in read (the lab\'s design)'
adaptive\t'Poll a turn counter in the segment for up to --spin, then sleep on the FIFO'"
complete -c osps -n "__fish_osps_using_subcommand primary" -l spin -d 'In adaptive mode, the longest a wait polls the segment before sleeping on the FIFO (below --timeout); the budget shrinks when polling does not pay' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l trace -d 'Print every system-level step of both processes on stderr: aligned text, or NDJSON with =json' -r -f -a "text\t'Aligned lines for people: time, role, pid, step, details'
json\t'One JSON object per line (NDJSON): t_us, pid, role, step, details'"
complete -c osps -n "__fish_osps_using_subcommand primary" -l hold-zombie -d 'Wait this long between the secondary\'s exit and its reap, so ps shows it as a zombie (Z)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l tcp -d 'With --serve, also accept clients on this TCP address (loopback only without --tcp-any)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l secondaries -d 'With --serve, how many secondaries share the work (each its own FIFO pair and slot)' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l max-line -d 'With --serve, the longest request line; longer ones get "ERR line too long"' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l max-clients -d 'With --serve, how many clients may be connected at once [default: 1024, or fewer if the descriptor limit allows fewer]' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l max-inflight -d 'With --serve, how many requests of one client may wait or be served at once; beyond, it is not read until its replies drain' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l queue -d 'With --serve, how many requests may wait for a free secondary; beyond, "ERR busy"' -r
complete -c osps -n "__fish_osps_using_subcommand primary" -l share-cpu -d 'With --serve, whether the primary and its secondaries run together on one CPU (pinned), leaving the others to the clients: more requests a second under load on few CPUs (together, a lone client waits longer)' -r -f -a "auto\t'Together while the server is loaded (4 or more requests a turn for 20 ms), apart after 100 ms of light load; only where the primary may run on 2 CPUs'
always\t'Together from the start, on the CPU the primary starts on'
never\t'Apart: the kernel places every process'"
complete -c osps -n "__fish_osps_using_subcommand primary" -s n -l name -d 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)' -r -f -a "(__fish_osps_instance_names)"
complete -c osps -n "__fish_osps_using_subcommand primary" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand primary" -l json -d 'Print the final summary as one JSON object on stdout'
complete -c osps -n "__fish_osps_using_subcommand primary" -l serve -d 'Serve clients (see osps-client(1)) on RUNDIR/NAME.sock instead of running rounds'
complete -c osps -n "__fish_osps_using_subcommand primary" -l tcp-any -d 'Allow --tcp to bind a non-loopback address'
complete -c osps -n "__fish_osps_using_subcommand primary" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand primary" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand primary" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand primary" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand inspect" -l runtime-dir -d 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]' -r -F
complete -c osps -n "__fish_osps_using_subcommand inspect" -s n -l name -d 'Only this instance (default: every instance of the current user)' -r -f -a "(__fish_osps_instance_names)"
complete -c osps -n "__fish_osps_using_subcommand inspect" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand inspect" -l compact -d 'One line instead of pretty-printed JSON'
complete -c osps -n "__fish_osps_using_subcommand inspect" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand inspect" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand inspect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand inspect" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand cleanup" -l runtime-dir -d 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]' -r -F
complete -c osps -n "__fish_osps_using_subcommand cleanup" -s n -l name -d 'Only this instance (default: every instance of the current user)' -r -f -a "(__fish_osps_instance_names)"
complete -c osps -n "__fish_osps_using_subcommand cleanup" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand cleanup" -l dry-run -d 'Say what would be removed, change nothing'
complete -c osps -n "__fish_osps_using_subcommand cleanup" -l json -d 'Print the report as JSON on stdout'
complete -c osps -n "__fish_osps_using_subcommand cleanup" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand cleanup" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand cleanup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand cleanup" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand client" -l runtime-dir -d 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]' -r -F
complete -c osps -n "__fish_osps_using_subcommand client" -l socket -d 'Connect to this Unix socket instead of RUNDIR/NAME.sock (not with --name or --runtime-dir)' -r -F
complete -c osps -n "__fish_osps_using_subcommand client" -l tcp -d 'Connect over TCP instead of the Unix socket (not with --name or --runtime-dir)' -r
complete -c osps -n "__fish_osps_using_subcommand client" -l timeout -d 'How long to wait for each reply, for the connection, and for an instance that is starting (not 0)' -r
complete -c osps -n "__fish_osps_using_subcommand client" -l max-line -d 'The longest request line, as the server\'s --max-line: a longer one is refused, not sent' -r
complete -c osps -n "__fish_osps_using_subcommand client" -s n -l name -d 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)' -r -f -a "(__fish_osps_instance_names)"
complete -c osps -n "__fish_osps_using_subcommand client" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand client" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand client" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand client" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand client" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand list" -s o -l output -d 'Columns to show, comma-separated ("-o help" lists them) [default: all]' -r -f -a "name\t''
status\t''
mode\t''
primary\t''
secondaries\t''
rounds\t''
requests\t''
restarts\t''
age\t''
heartbeat\t''
help\t''"
complete -c osps -n "__fish_osps_using_subcommand list" -l runtime-dir -d 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]' -r -F
complete -c osps -n "__fish_osps_using_subcommand list" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand list" -s n -l noheadings -d 'Print no heading line'
complete -c osps -n "__fish_osps_using_subcommand list" -l json -d 'Print the rows as one JSON object on stdout (schema_version, instances[])'
complete -c osps -n "__fish_osps_using_subcommand list" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand list" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand list" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand ls" -s o -l output -d 'Columns to show, comma-separated ("-o help" lists them) [default: all]' -r -f -a "name\t''
status\t''
mode\t''
primary\t''
secondaries\t''
rounds\t''
requests\t''
restarts\t''
age\t''
heartbeat\t''
help\t''"
complete -c osps -n "__fish_osps_using_subcommand ls" -l runtime-dir -d 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]' -r -F
complete -c osps -n "__fish_osps_using_subcommand ls" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand ls" -s n -l noheadings -d 'Print no heading line'
complete -c osps -n "__fish_osps_using_subcommand ls" -l json -d 'Print the rows as one JSON object on stdout (schema_version, instances[])'
complete -c osps -n "__fish_osps_using_subcommand ls" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand ls" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand ls" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand status" -s n -l name -d 'The same as NAME, spelled as the other commands take it' -r
complete -c osps -n "__fish_osps_using_subcommand status" -l runtime-dir -d 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]' -r -F
complete -c osps -n "__fish_osps_using_subcommand status" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand status" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand status" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand status" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand stop" -s n -l name -d 'The same as NAME, spelled as the other commands take it' -r
complete -c osps -n "__fish_osps_using_subcommand stop" -l timeout -d 'How long to wait for the orderly stop (not 0)' -r
complete -c osps -n "__fish_osps_using_subcommand stop" -l runtime-dir -d 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]' -r -F
complete -c osps -n "__fish_osps_using_subcommand stop" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand stop" -l all -d 'Stop every running instance of the current user (in this runtime directory)'
complete -c osps -n "__fish_osps_using_subcommand stop" -l kill -d 'Past --timeout, SIGKILL the primary and its secondaries and clean up'
complete -c osps -n "__fish_osps_using_subcommand stop" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand stop" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand stop" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand top" -l runtime-dir -d 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]' -r -F
complete -c osps -n "__fish_osps_using_subcommand top" -l interval -d 'Time between two refreshes' -r
complete -c osps -n "__fish_osps_using_subcommand top" -l iterations -d 'Stop after N refreshes (default: until q, SIGINT or SIGTERM)' -r
complete -c osps -n "__fish_osps_using_subcommand top" -s n -l name -d 'Only this instance (default: every instance of the current user)' -r -f -a "(__fish_osps_instance_names)"
complete -c osps -n "__fish_osps_using_subcommand top" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand top" -l json -d 'Print one compact JSON document per interval on stdout instead of drawing'
complete -c osps -n "__fish_osps_using_subcommand top" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand top" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand top" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand top" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand audit" -l zombie-threshold -d 'A child not reaped within this time after it exited is a zombie finding' -r
complete -c osps -n "__fish_osps_using_subcommand audit" -l grace -d 'How long to keep following after the main process ended' -r
complete -c osps -n "__fish_osps_using_subcommand audit" -l timeout -d 'Stop following after this long, for programs that never end (not 0) [default: no limit]' -r
complete -c osps -n "__fish_osps_using_subcommand audit" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand audit" -l json -d 'Print the report as one JSON document on stdout'
complete -c osps -n "__fish_osps_using_subcommand audit" -l clean -d 'After the report, remove the segments, semaphores and FIFOs it reported as left'
complete -c osps -n "__fish_osps_using_subcommand audit" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand audit" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand audit" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand completions" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand completions" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand completions" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand completions" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand man" -l color -d 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` is set to a non-empty value'
always\t'Always, even into a pipe or a file, whatever `NO_COLOR` says'
never\t'Never'"
complete -c osps -n "__fish_osps_using_subcommand man" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c osps -n "__fish_osps_using_subcommand man" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c osps -n "__fish_osps_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c osps -n "__fish_osps_using_subcommand man" -s V -l version -d 'Print version'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "primary" -d 'Create the segment and FIFOs, start the secondary, run rounds, stop in order.'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "inspect" -d 'Show instances (segment, lock, FIFOs, processes) as one JSON document on stdout.'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "cleanup" -d 'Remove what crashed instances left behind; never touches a running one.'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "client" -d 'Send requests to a serving primary and print the replies.'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "list" -d 'One line per instance of the current user, as a table (or JSON with --json).'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "status" -d 'Describe one instance for people: processes, counters, objects, heartbeats, warnings.'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "stop" -d 'Stop a running instance in order: SIGTERM to its primary, then wait.'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "top" -d 'A live view of every instance, refreshed every --interval (q quits).'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "audit" -d 'Run a program and report what it left behind: segments, queues, FIFOs, zombies, processes.'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "completions" -d 'Print the completion script for a shell (the same as completions/ in the sources).'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "man" -d 'Print a man page in roff (the same as man/ in the sources).'
complete -c osps -n "__fish_osps_using_subcommand help; and not __fish_seen_subcommand_from primary inspect cleanup client list status stop top audit completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c osps -n "__fish_osps_using_subcommand status" -f -a "(__fish_osps_instance_names)"
complete -c osps -n "__fish_osps_using_subcommand stop" -f -a "(__fish_osps_instance_names)"

# Instance names for --name: this user's segments /dev/shm/osps.UID.NAME.
# (Appended to clap's script by osps's own generator.)
function __fish_osps_instance_names
    set -l prefix /dev/shm/osps.(id -u).
    for f in $prefix*
        string replace -- $prefix '' $f
    end | string match -r -- '^[A-Za-z0-9_][A-Za-z0-9_-]*$'
end
