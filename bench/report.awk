# bench/report.awk: turns bench/run's results.tsv into its markdown tables.
#
# Input, tab-separated: run, tool, step, status (ok/failed), wall s, CPU s (user+sys),
# peak RSS KiB ("-" if unknown), bytes ("-" but for the repository size).
# Variables: tools (space-separated, reprise first if present), runs.
# Written for mawk, Debian's default awk: no asort, no gawk extensions.

BEGIN {
  ntools = split(tools, tool, " ")
  nsteps = split("backup1 backup2 backup3 restore check", step, " ")
  label["backup1"] = "initial backup"
  label["backup2"] = "no-change backup"
  label["backup3"] = "backup after 2 % change"
  label["restore"] = "restore"
  label["check"] = "check --read-data"
}

{
  key = $2 SUBSEP $3
  total[key]++
  if ($4 != "ok") { failed[key]++; next }
  wall[key] = wall[key] " " $5
  cpu[key] = cpu[key] " " $6
  if ($7 != "-") rss[key] = rss[key] " " $7
  if ($8 != "-") bytes[key] = bytes[key] " " $8
}

# Median of a space-separated list of numbers ("" when empty); insertion sort is enough
# for a handful of runs.
function median(list,    n, v, i, j, x) {
  n = split(list, v, " ")
  if (n == 0) return ""
  for (i = 2; i <= n; i++) {
    x = v[i] + 0
    for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]
    v[j + 1] = x
  }
  return (n % 2) ? v[(n + 1) / 2] + 0 : (v[n / 2] + v[n / 2 + 1]) / 2
}

function maximum(list,    n, v, i, m) {
  n = split(list, v, " ")
  if (n == 0) return ""
  m = v[1] + 0
  for (i = 2; i <= n; i++) if (v[i] + 0 > m) m = v[i] + 0
  return m
}

function seconds(x) { return x < 10 ? sprintf("%.2f", x) : sprintf("%.1f", x) }
function mib(x) { return x < 10 ? sprintf("%.2f", x) : sprintf("%.0f", x) }
function ratio(x) { return sprintf("%.2fx", x) }

# True when every run of this step succeeded.
function good(key) { return (key in total) && !(key in failed) && wall[key] != "" }

# The cell of a time table: the median, or why there is none.
function time_cell(t, s, what,    key) {
  key = t SUBSEP s
  if (!(key in total)) return "n/a"
  if (key in failed) return "failed (" failed[key] "/" total[key] " runs)"
  return seconds(median(what == "wall" ? wall[key] : cpu[key]))
}

function header(first,    i, line, rule) {
  line = "| " first
  rule = "|---"
  for (i = 1; i <= nsteps; i++) { line = line " | " label[step[i]]; rule = rule "|---:" }
  print line " |"
  print rule "|"
}

function time_table(title, what,    i, j, line) {
  print "## " title
  print ""
  header("tool")
  for (i = 1; i <= ntools; i++) {
    line = "| " tool[i]
    for (j = 1; j <= nsteps; j++) line = line " | " time_cell(tool[i], step[j], what)
    print line " |"
  }
  print ""
}

function memory_table(    i, j, key, line, peak, top, size) {
  print "## Peak memory (MiB, highest of the runs) and repository size"
  print ""
  line = "| tool"
  for (j = 1; j <= nsteps; j++) line = line " | " label[step[j]]
  print line " | max | repository after 3 backups (MiB) |"
  line = "|---"
  for (j = 1; j <= nsteps + 2; j++) line = line "|---:"
  print line "|"
  for (i = 1; i <= ntools; i++) {
    line = "| " tool[i]
    top = ""
    for (j = 1; j <= nsteps; j++) {
      key = tool[i] SUBSEP step[j]
      if (key in failed) { line = line " | failed"; continue }
      peak = maximum(rss[key])
      if (peak == "") { line = line " | n/a"; continue }
      line = line " | " mib(peak / 1024)
      if (top == "" || peak > top) top = peak
    }
    line = line " | " (top == "" ? "n/a" : mib(top / 1024))
    size = median(bytes[tool[i] SUBSEP "repo"])
    print line " | " (size == "" ? "n/a" : mib(size / 1048576)) " |"
  }
  print ""
}

# (Membership is tested before any read: reading an awk array element creates it.)
function verification_table(    i, key) {
  print "## Restore verification (reprise-bench-data verify against the source)"
  print ""
  print "| tool | restored trees identical to the source |"
  print "|---|---|"
  for (i = 1; i <= ntools; i++) {
    key = tool[i] SUBSEP "verify"
    if (!(key in total)) print "| " tool[i] " | not run (restore failed) |"
    else if (key in failed) print "| " tool[i] " | FAILED in " failed[key] " of " total[key] " runs |"
    else print "| " tool[i] " | passed (" total[key] "/" total[key] " runs) |"
  }
  print ""
}

# peer time / reprise time for each step: above 1 reprise is faster; the goal is 2.
function peer_table(    i, j, key, best, best_tool, t, ours) {
  print "## reprise against the fastest peer (peer time / reprise time; goal >= 2.00x)"
  print ""
  print "| step | fastest peer | peer (s) | reprise (s) | peer / reprise |"
  print "|---|---|---:|---:|---:|"
  for (j = 1; j <= nsteps; j++) {
    best = ""; best_tool = ""
    for (i = 1; i <= ntools; i++) {
      if (tool[i] == "reprise") continue
      key = tool[i] SUBSEP step[j]
      if (!good(key)) continue
      t = median(wall[key])
      if (best == "" || t < best) { best = t; best_tool = tool[i] }
    }
    key = "reprise" SUBSEP step[j]
    ours = good(key) ? median(wall[key]) : ""
    if (best == "") print "| " label[step[j]] " | no peer measured | n/a | " (ours == "" ? "failed" : seconds(ours)) " | n/a |"
    else if (ours == "") print "| " label[step[j]] " | " best_tool " | " seconds(best) " | failed | n/a |"
    else print "| " label[step[j]] " | " best_tool " | " seconds(best) " | " seconds(ours) " | " (ours > 0 ? ratio(best / ours) : "n/a") " |"
  }
  print ""
}

function reference_row(name, text,    key) {
  key = "reference" SUBSEP name
  if (!(key in total)) { print "| " text " | n/a | n/a |"; return }
  print "| " text " | " time_cell("reference", name, "wall") " | " time_cell("reference", name, "cpu") " |"
}

# reprise time / reference time: how far reprise is from the hardware's floor.
function reference_ratio(text, ours, floor,    a, b) {
  a = "reprise" SUBSEP ours
  b = "reference" SUBSEP floor
  if (!good(a) || !good(b) || median(wall[b]) <= 0) { print "| " text " | n/a |"; return }
  print "| " text " | " ratio(median(wall[a]) / median(wall[b])) " |"
}

function reference_tables(    has_reprise, i) {
  print "## Physical references on the same data (median of the runs)"
  print ""
  print "| reference | wall (s) | CPU (s) |"
  print "|---|---:|---:|"
  reference_row("tar", "read: `tar cf - . \\| cat >/dev/null`")
  reference_row("tarzstd", "read + compress: `tar cf - . \\| zstd -1 -T0 >/dev/null`")
  reference_row("cp", "read + write: `cp -a`")
  print ""
  for (i = 1; i <= ntools; i++) if (tool[i] == "reprise") has_reprise = 1
  if (!has_reprise) return
  print "| reprise against the reference (reprise time / reference time; 1.00x = as fast as the hardware) | ratio |"
  print "|---|---:|"
  reference_ratio("initial backup / `tar \\| zstd -1 -T0`", "backup1", "tarzstd")
  reference_ratio("restore / `cp -a`", "restore", "cp")
  print ""
}

END {
  of_runs = runs == 1 ? "1 run" : "median of " runs " runs"
  time_table("Wall time (s, " of_runs ")", "wall")
  time_table("CPU time, user + system (s, " of_runs ")", "cpu")
  memory_table()
  verification_table()
  for (i = 1; i <= ntools; i++) if (tool[i] == "reprise") { peer_table(); break }
  reference_tables()
}
