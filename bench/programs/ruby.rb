# ruby.rb: an allocation-heavy Ruby program for the benchmark suite, run by
# Debian's ruby. Ruby keeps small objects in its own pages (allocated with
# the malloc family) and puts strings over 23 bytes, arrays over 3 elements
# and hashes over 8 entries in malloc'd buffers.
#   ruby ruby.rb [SCALE]
# Binary trees, string building, hash churn and a sort; prints a check value
# that depends only on the work done.
scale = (ARGV[0] || "1").to_f

def make(depth)
  depth.zero? ? [nil, nil] : [make(depth - 1), make(depth - 1)]
end

def check(node)
  node[0].nil? ? 1 : 1 + check(node[0]) + check(node[1])
end

def trees(max_depth)
  total = 0
  long_lived = make(max_depth)
  4.step(max_depth, 2) do |depth|
    (1 << (max_depth - depth + 4)).times { total += check(make(depth)) }
  end
  total + check(long_lived)
end

def strings(n)
  total = 0
  parts = []
  n.times do |i|
    s = +""
    (i % 20 + 1).times { |j| s << "word#{j * i % 97} " }
    parts << s.upcase
    if parts.size > 1000
      total += parts.join(",").size
      parts = []
    end
  end
  total
end

def hashes(n)
  h = {}
  n.times do |i|
    h["k#{i * 7919 % (n / 2 + 1)}"] = Array.new(i % 12) { |j| j * i }
    h.delete("k#{i * 31 % (n / 2 + 1)}") if i % 3 == 0
  end
  h.size + h.values.sum(&:size) + h.keys.sort.first.size
end

total = trees(scale >= 0.5 ? 15 : 12)
total += strings((300_000 * scale).to_i)
total += hashes((600_000 * scale).to_i)
puts "bench: check=#{total}"
