# Instance names for --name: this user's segments /dev/shm/osps.UID.NAME.
# (Appended to clap's script by osps's own generator.)
_osps_instance_names() {
    local f prefix="/dev/shm/osps.${UID:-$(id -u)}."
    for f in "$prefix"*; do
        [[ -e $f ]] || continue
        f=${f#"$prefix"}
        [[ $f =~ ^[A-Za-z0-9_][A-Za-z0-9_-]*$ ]] && printf '%s\n' "$f"
    done
}
