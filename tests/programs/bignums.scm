; bignums.scm: Guile with bignums, strings, vectors and lists; its output must
; be identical with and without libgclzone. GCLZONE_TEST_SCALE multiplies the work.
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
