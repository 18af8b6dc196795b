; bignums.scm: Guile with bignums, strings, vectors and lists; its output must
; be identical with and without libgclzone. GCLZONE_TEST_SCALE multiplies the work.
; Guile's own objects live in libgc's heap, which it maps itself; what it
; allocates with malloc is, among others, compiled regular expressions (glibc's
; regcomp) and the temporary UTF-8 copy of string->utf8. So the script keeps
; 1000 x scale compiled regexps live to the end and converts a string of
; 16 MiB x scale, and tests/programs.sh checks those in the arena's figures.
(define scale (string->number (or (getenv "GCLZONE_TEST_SCALE") "1")))
(define (fact n) (let loop ((n n) (acc 1)) (if (= n 0) acc (loop (- n 1) (* acc n)))))
(define f (fact (* 3000 scale)))
(display (string-length (number->string f))) (newline)
(display (modulo (expt 3 20000) (expt 10 30))) (newline)
(define n (* 100000 scale))
(define v (make-vector n 0))
(let loop ((i 0)) (when (< i n) (vector-set! v i (number->string (* i i))) (loop (+ i 1))))
(display (string-length (apply string-append (vector->list v)))) (newline)
(display (length (sort (map (lambda (i) (modulo (* i 7919) 10007)) (iota (* 50000 scale))) <))) (newline)
(use-modules (ice-9 regex) (rnrs bytevectors))
(define regexps
  (let loop ((i 0) (acc '()))
    (if (< i (* 1000 scale))
        (loop (+ i 1) (cons (make-regexp (string-append "k" (number->string i) "([0-9]+)x(y|z)*")) acc))
        acc)))
(display (length (filter (lambda (rx) (regexp-exec rx "k1234x")) regexps))) (newline)
(display (bytevector-length (string->utf8 (make-string (* 16 1024 1024 scale) #\a)))) (newline)
