
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'osps' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'osps'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'osps' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('primary', 'primary', [CompletionResultType]::ParameterValue, 'Create the segment and FIFOs, start the secondary, run rounds, stop in order.')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Show instances (segment, lock, FIFOs, processes) as one JSON document on stdout.')
            [CompletionResult]::new('cleanup', 'cleanup', [CompletionResultType]::ParameterValue, 'Remove what crashed instances left behind; never touches a running one.')
            [CompletionResult]::new('client', 'client', [CompletionResultType]::ParameterValue, 'Send requests to a serving primary and print the replies.')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One line per instance of the current user, as a table (or JSON with --json).')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'One line per instance of the current user, as a table (or JSON with --json).')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Describe one instance for people: processes, counters, objects, heartbeats, warnings.')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop a running instance in order: SIGTERM to its primary, then wait.')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'A live view of every instance, refreshed every --interval (q quits).')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Run a program and report what it left behind: segments, queues, FIFOs, zombies, processes.')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the completion script for a shell (the same as completions/ in the sources).')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print a man page in roff (the same as man/ in the sources).')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'osps;primary' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Segment size: a multiple of 8, at least one page, at most 1G (suffixes K, M, G)')
            [CompletionResult]::new('--payload', '--payload', [CompletionResultType]::ParameterName, 'Bytes exchanged per round, at most the data area (size minus the 256-byte header)')
            [CompletionResult]::new('--rounds', '--rounds', [CompletionResultType]::ParameterName, 'Run N rounds back to back, then stop (default: run until SIGINT or SIGTERM)')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between heartbeat rounds when running without --rounds (not 0)')
            [CompletionResult]::new('--start-timeout', '--start-timeout', [CompletionResultType]::ParameterName, 'How long the secondary may take to start and say hello (not 0)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long a round may take before the secondary counts as hung (killed, restarted; not 0)')
            [CompletionResult]::new('--max-restarts', '--max-restarts', [CompletionResultType]::ParameterName, 'Restarts of a dead or hung secondary allowed within a minute before giving up (0: never restart)')
            [CompletionResult]::new('--restart-backoff', '--restart-backoff', [CompletionResultType]::ParameterName, 'Wait before the first restart; doubles with each restart in the last minute, capped at 5s')
            [CompletionResult]::new('--sync', '--sync', [CompletionResultType]::ParameterName, 'How the two sides wait for their turn')
            [CompletionResult]::new('--spin', '--spin', [CompletionResultType]::ParameterName, 'In adaptive mode, the longest a wait polls the segment before sleeping on the FIFO (below --timeout); the budget shrinks when polling does not pay')
            [CompletionResult]::new('--trace', '--trace', [CompletionResultType]::ParameterName, 'Print every system-level step of both processes on stderr: aligned text, or NDJSON with =json')
            [CompletionResult]::new('--hold-zombie', '--hold-zombie', [CompletionResultType]::ParameterName, 'Wait this long between the secondary''s exit and its reap, so ps shows it as a zombie (Z)')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'With --serve, also accept clients on this TCP address (loopback only without --tcp-any)')
            [CompletionResult]::new('--secondaries', '--secondaries', [CompletionResultType]::ParameterName, 'With --serve, how many secondaries share the work (each its own FIFO pair and slot)')
            [CompletionResult]::new('--max-line', '--max-line', [CompletionResultType]::ParameterName, 'With --serve, the longest request line; longer ones get "ERR line too long"')
            [CompletionResult]::new('--max-clients', '--max-clients', [CompletionResultType]::ParameterName, 'With --serve, how many clients may be connected at once [default: 1024, or fewer if the descriptor limit allows fewer]')
            [CompletionResult]::new('--max-inflight', '--max-inflight', [CompletionResultType]::ParameterName, 'With --serve, how many requests of one client may wait or be served at once; beyond, it is not read until its replies drain')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'With --serve, how many requests may wait for a free secondary; beyond, "ERR busy"')
            [CompletionResult]::new('--share-cpu', '--share-cpu', [CompletionResultType]::ParameterName, 'With --serve, whether the primary and its secondaries run together on one CPU (pinned), leaving the others to the clients: more requests a second under load on few CPUs (together, a lone client waits longer)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the final summary as one JSON object on stdout')
            [CompletionResult]::new('--serve', '--serve', [CompletionResultType]::ParameterName, 'Serve clients (see osps-client(1)) on RUNDIR/NAME.sock instead of running rounds')
            [CompletionResult]::new('--tcp-any', '--tcp-any', [CompletionResultType]::ParameterName, 'Allow --tcp to bind a non-loopback address')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;inspect' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Only this instance (default: every instance of the current user)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only this instance (default: every instance of the current user)')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('--compact', '--compact', [CompletionResultType]::ParameterName, 'One line instead of pretty-printed JSON')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;cleanup' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Only this instance (default: every instance of the current user)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only this instance (default: every instance of the current user)')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Say what would be removed, change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;client' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]')
            [CompletionResult]::new('--socket', '--socket', [CompletionResultType]::ParameterName, 'Connect to this Unix socket instead of RUNDIR/NAME.sock (not with --name or --runtime-dir)')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'Connect over TCP instead of the Unix socket (not with --name or --runtime-dir)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for each reply, for the connection, and for an instance that is starting (not 0)')
            [CompletionResult]::new('--max-line', '--max-line', [CompletionResultType]::ParameterName, 'The longest request line, as the server''s --max-line: a longer one is refused, not sent')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;list' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Columns to show, comma-separated ("-o help" lists them) [default: all]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Columns to show, comma-separated ("-o help" lists them) [default: all]')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Print no heading line')
            [CompletionResult]::new('--noheadings', '--noheadings', [CompletionResultType]::ParameterName, 'Print no heading line')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the rows as one JSON object on stdout (schema_version, instances[])')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;ls' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Columns to show, comma-separated ("-o help" lists them) [default: all]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Columns to show, comma-separated ("-o help" lists them) [default: all]')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Print no heading line')
            [CompletionResult]::new('--noheadings', '--noheadings', [CompletionResultType]::ParameterName, 'Print no heading line')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the rows as one JSON object on stdout (schema_version, instances[])')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;status' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The same as NAME, spelled as the other commands take it')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The same as NAME, spelled as the other commands take it')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;stop' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The same as NAME, spelled as the other commands take it')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The same as NAME, spelled as the other commands take it')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the orderly stop (not 0)')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Stop every running instance of the current user (in this runtime directory)')
            [CompletionResult]::new('--kill', '--kill', [CompletionResultType]::ParameterName, 'Past --timeout, SIGKILL the primary and its secondaries and clean up')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;top' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Only this instance (default: every instance of the current user)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only this instance (default: every instance of the current user)')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between two refreshes')
            [CompletionResult]::new('--iterations', '--iterations', [CompletionResultType]::ParameterName, 'Stop after N refreshes (default: until q, SIGINT or SIGTERM)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one compact JSON document per interval on stdout instead of drawing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;audit' {
            [CompletionResult]::new('--zombie-threshold', '--zombie-threshold', [CompletionResultType]::ParameterName, 'A child not reaped within this time after it exited is a zombie finding')
            [CompletionResult]::new('--grace', '--grace', [CompletionResultType]::ParameterName, 'How long to keep following after the main process ended')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Stop following after this long, for programs that never end (not 0) [default: no limit]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as one JSON document on stdout')
            [CompletionResult]::new('--clean', '--clean', [CompletionResultType]::ParameterName, 'After the report, remove the segments, semaphores and FIFOs it reported as left')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;completions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;man' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only warnings and errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'osps;help' {
            [CompletionResult]::new('primary', 'primary', [CompletionResultType]::ParameterValue, 'Create the segment and FIFOs, start the secondary, run rounds, stop in order.')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Show instances (segment, lock, FIFOs, processes) as one JSON document on stdout.')
            [CompletionResult]::new('cleanup', 'cleanup', [CompletionResultType]::ParameterValue, 'Remove what crashed instances left behind; never touches a running one.')
            [CompletionResult]::new('client', 'client', [CompletionResultType]::ParameterValue, 'Send requests to a serving primary and print the replies.')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One line per instance of the current user, as a table (or JSON with --json).')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Describe one instance for people: processes, counters, objects, heartbeats, warnings.')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop a running instance in order: SIGTERM to its primary, then wait.')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'A live view of every instance, refreshed every --interval (q quits).')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Run a program and report what it left behind: segments, queues, FIFOs, zombies, processes.')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the completion script for a shell (the same as completions/ in the sources).')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print a man page in roff (the same as man/ in the sources).')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'osps;help;primary' {
            break
        }
        'osps;help;inspect' {
            break
        }
        'osps;help;cleanup' {
            break
        }
        'osps;help;client' {
            break
        }
        'osps;help;list' {
            break
        }
        'osps;help;status' {
            break
        }
        'osps;help;stop' {
            break
        }
        'osps;help;top' {
            break
        }
        'osps;help;audit' {
            break
        }
        'osps;help;completions' {
            break
        }
        'osps;help;man' {
            break
        }
        'osps;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
