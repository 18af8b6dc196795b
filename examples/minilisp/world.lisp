; world.lisp: a world worth saving (make demo). A library of definitions and
; some costly data: factorials, primes, big powers. Every integer is a GMP
; bignum with its limbs in the arena; every cell is on the host heap. `make
; demo` appends (save-image "FILE"); use.lisp then starts from that image.

(define (not x) (if x nil t))
(define (reverse-onto l acc) (if (null? l) acc (reverse-onto (cdr l) (cons (car l) acc))))
(define (reverse l) (reverse-onto l nil))
(define (length-onto l n) (if (null? l) n (length-onto (cdr l) (+ n 1))))
(define (length l) (length-onto l 0))
(define (last l) (if (null? (cdr l)) (car l) (last (cdr l))))
(define (append a b) (reverse-onto (reverse a) b))
(define (iota-onto n acc) (if (= n 0) acc (iota-onto (- n 1) (cons n acc))))
(define (iota n) (iota-onto n nil))
(define (map-onto f l acc) (if (null? l) (reverse acc) (map-onto f (cdr l) (cons (f (car l)) acc))))
(define (map f l) (map-onto f l nil))
(define (filter-onto p l acc)
  (cond ((null? l) (reverse acc))
        ((p (car l)) (filter-onto p (cdr l) (cons (car l) acc)))
        (else (filter-onto p (cdr l) acc))))
(define (filter p l) (filter-onto p l nil))
(define (sum-onto l acc) (if (null? l) acc (sum-onto (cdr l) (+ acc (car l)))))
(define (sum l) (sum-onto l 0))
(define (nth l n) (if (= n 0) (car l) (nth (cdr l) (- n 1))))
(define (fact-onto n acc) (if (= n 0) acc (fact-onto (- n 1) (* acc n))))
(define (fact n) (fact-onto n 1))
(define (digit-sum n acc) (if (= n 0) acc (digit-sum (quotient n 10) (+ acc (remainder n 10)))))
(define (sieve l acc)
  (if (> (* (car l) (car l)) (last l))
      (append (reverse acc) l)
      (sieve (filter (lambda (x) (not (= (remainder x (car l)) 0))) (cdr l)) (cons (car l) acc))))

; ---- the data: what a restarted process gets without recomputing
(define factorials (map fact (iota 500)))                 ; 1! .. 500!
(define primes (sieve (cdr (iota 30000)) nil))            ; below 30000
(define power (expt 7 20000))
(define power-digit-sum (digit-sum power 0))
(print "the world: 500 factorials, the" (length primes) "primes below 30000, 7^20000 with digit sum" power-digit-sum)
(print "built from source in" (elapsed-ms) "ms")
