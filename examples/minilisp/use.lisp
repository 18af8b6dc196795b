; use.lisp: run on a world started from an image (make demo): the
; definitions and data of world.lisp are there without recomputing; the
; program then collects, grows its heap and saves the world again.

(print "ready after" (elapsed-ms) "ms, with" (length primes) "primes and" (length factorials) "factorials from the image")
(print "500! has" (digits (last factorials)) "digits; the 3000th prime is" (nth primes 2999)
       "; 7^20000 has" (digits power) "digits and digit sum" power-digit-sum)
(define cubes (map (lambda (x) (* x x x)) (iota 30000)))   ; new data: the heap grows
(define (churn k acc) (if (= k 0) acc (churn (- k 1) (+ acc (sum (filter (lambda (x) (= (remainder x 7) 0)) (iota 2000)))))))
(print "after" (churn 30 0) "of churn, the sum of cubes up to 30000 is" (sum cubes))
