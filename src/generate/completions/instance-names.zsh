# Instance names for --name: this user's segments /dev/shm/osps.UID.NAME.
# (Appended to clap's script by osps's own generator.)
(( $+functions[_osps_instance_names] )) ||
_osps_instance_names() {
    local -a names
    names=( /dev/shm/osps.${UID}.*(N:t) )
    names=( ${names#osps.${UID}.} )
    names=( ${names:#*[^A-Za-z0-9_-]*} )
    compadd "$@" -a names
}
