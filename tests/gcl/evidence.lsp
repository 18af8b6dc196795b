;; evidence.lsp: where GCL's heap is, told by GCL itself (tests/gcl.sh loads
;; it into GCL and into Maxima, with and without libgclzone). Every line
;; starts with "evidence:".

(defun gclz-maps ()                     ; /proc/self/maps as (lo hi line)
  (with-open-file (s "/proc/self/maps")
    (do ((l (read-line s nil) (read-line s nil)) (r nil))
        ((null l) (nreverse r))
      (let ((dash (position #\- l)) (sp (position #\Space l)))
        (push (list (parse-integer l :end dash :radix 16)
                    (parse-integer l :start (1+ dash) :end sp :radix 16) l) r)))))

(defun gclz-mapping (maps addr)
  (dolist (m maps "unmapped") (when (and (<= (first m) addr) (< addr (second m))) (return (third m)))))

(defun gclz-evidence ()
  (let* ((fresh (make-list 200000))     ; conses made now, as the heap grows
         (big (expt 7 100000))
         (maps (gclz-maps))
         (report (multiple-value-list (si::heap-report)))
         (counts nil))
    (fresh-line)
    ;; GCL re-executes itself once with ADDR_NO_RANDOMIZE (0x0040000).
    (format t "evidence: personality ~a~%"
            (with-open-file (s "/proc/self/personality") (read-line s)))
    ;; heap-report: word size, page size, data_start, data_start + real_maxpage
    ;; pages. real_maxpage is the top address GCL's sbrk probe could reach,
    ;; scaled by GCL_MEM_MULTIPLE (1 by default; /usr/bin/maxima exports 0.2).
    (format t "evidence: sbrk ceiling ~(~x~)~%" (- (fourth report) (third report)))
    (format t "evidence: data_start in ~a~%" (gclz-mapping maps (third report)))
    (format t "evidence: kernel brk heap ~a~%"
            (if (find-if #'(lambda (m) (search "[heap]" (third m))) maps) "present" "absent"))
    ;; Every 100th cons of the fresh list: which mapping holds it.
    (do ((c fresh (nthcdr 100 c))) ((null c))
      (let* ((line (gclz-mapping maps (si::address c))) (e (assoc line counts :test #'equal)))
        (if e (incf (cdr e)) (push (cons line 1) counts))))
    (dolist (e counts) (format t "evidence: conses ~d in ~a~%" (cdr e) (car e)))
    (format t "evidence: bignum in ~a~%" (gclz-mapping maps (si::address big)))))
