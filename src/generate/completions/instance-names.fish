# Instance names for --name: this user's segments /dev/shm/osps.UID.NAME.
# (Appended to clap's script by osps's own generator.)
function __fish_osps_instance_names
    set -l prefix /dev/shm/osps.(id -u).
    for f in $prefix*
        string replace -- $prefix '' $f
    end | string match -r -- '^[A-Za-z0-9_][A-Za-z0-9_-]*$'
end
